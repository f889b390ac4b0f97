"""Chat with a GGUF model through llama.cpp, and the SQL agent."""
