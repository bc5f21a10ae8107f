"""Any OpenAI-compatible chat-completions endpoint (a self-hosted model, the scripted LLM)."""
