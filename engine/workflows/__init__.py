"""User-level workflows, one function each (export a run, generate pairs with the LLM, curate, pick the
pairs to evaluate, build the SQL answering context, evaluate models): the CLI and the app call these,
with a progress callback and a cancel token, and show the typed result their own way."""
