"""LLM provider ``openai``: an OpenAI-compatible endpoint named by ``options.base_url``.

Options: ``base_url`` (default the OpenAI API), ``api_key`` as ``${env:NAME}`` (default
OPENAI_API_KEY; a local endpoint needs none), ``temperature``, ``max_tokens``.
"""

from __future__ import annotations

from typing import Any

from cb.runner.calls.providers import CallAudio, PartSpec, ProviderUnavailable, secret


def openai_llm(base_url: str | None, api_key: str, model: str, options: dict[str, Any]) -> Any:
    from pipecat.services.openai.llm import OpenAILLMService

    settings = OpenAILLMService.Settings(model=model)
    if "temperature" in options:
        settings.temperature = float(options["temperature"])
    if "max_tokens" in options:
        settings.max_tokens = int(options["max_tokens"])
    return OpenAILLMService(api_key=api_key, base_url=base_url, settings=settings)


class OpenAIProvider:
    name = "openai"
    kind = "llm"

    def create(self, part: PartSpec, audio: CallAudio) -> Any:
        base_url = part.options.get("base_url")
        local = isinstance(base_url, str) and base_url.startswith(("http://127.", "http://localhost"))
        try:
            key = secret(part.options, "api_key", "OPENAI_API_KEY")
        except ProviderUnavailable:
            if not local:
                raise
            key = "local"  # a server on this machine needs no key, but the client wants one
        return openai_llm(base_url, key, part.model or "gpt-4.1-mini", part.options)


provider = OpenAIProvider()
