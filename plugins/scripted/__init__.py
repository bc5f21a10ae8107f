"""A scripted LLM: an OpenAI-compatible chat-completions server that follows a script.

Tests and demos talk to it through the same OpenAI client code path as a real model (Groq, a
local llama.cpp server), so what they exercise is the production pipeline, only deterministic.
"""
