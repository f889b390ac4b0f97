"""SQL answering grounded in the database: the schema in the prompt, retrieved examples, a grammar of
the database's own names, and execution-checked voting over several candidates."""
