"""Evaluation: fact recall, SQL execution accuracy, errors by kind, base vs tuned."""
