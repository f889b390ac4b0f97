"""Export tuned models for llama.cpp and Ollama."""
