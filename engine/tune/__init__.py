"""Memory tuning: LoRA adapters trained until every chosen fact is recalled exactly."""
