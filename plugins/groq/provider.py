"""LLM provider ``groq``: Groq's OpenAI-compatible chat completions (key: GROQ_API_KEY).

Options: ``api_key`` as ``${env:NAME}``, ``base_url``, ``temperature``, ``max_tokens``.
"""

from __future__ import annotations

from typing import Any

from cb.providers import CallAudio, PartSpec, require, secret, secret_name


class GroqProvider:
    name = "groq"
    kind = "llm"

    def required_env(self, part: PartSpec) -> list[str]:
        return [n for n in [secret_name(part.options, "api_key", "GROQ_API_KEY")] if n]

    def create(self, part: PartSpec, audio: CallAudio) -> Any:
        require("groq", "cloud", "groq")
        from pipecat.services.groq.llm import GroqLLMService

        settings = GroqLLMService.Settings(model=part.model or "llama-3.3-70b-versatile")
        if "temperature" in part.options:
            settings.temperature = float(part.options["temperature"])
        if "max_tokens" in part.options:
            settings.max_tokens = int(part.options["max_tokens"])
        kwargs = {"base_url": part.options["base_url"]} if part.options.get("base_url") else {}
        return GroqLLMService(api_key=secret(part.options, "api_key", "GROQ_API_KEY"), settings=settings, **kwargs)


provider = GroqProvider()
