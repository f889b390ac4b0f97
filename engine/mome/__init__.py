"""Mixture of memory experts: facts grouped, one small LoRA expert per group, a router per question."""
