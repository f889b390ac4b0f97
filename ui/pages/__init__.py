"""One page per step of the workflow."""
