"""LLM provider ``openai``: an OpenAI-compatible endpoint named by ``options.base_url``.

Options: ``base_url`` (default the OpenAI API), ``api_key`` as ``${env:NAME}`` (default
OPENAI_API_KEY; a local endpoint needs none), ``temperature``, ``max_tokens``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cb.providers import CallAudio, PartSpec, ProviderUnavailable, secret, secret_name

#: (event loop, endpoint, key) -> AsyncOpenAI. pipecat builds a client per call: a new TLS
#: context (~20 ms of the event loop, bench/README.md) and a new connection pool per call. One per
#: endpoint per loop reuses both; pipecat never closes it, and a loop of its own per test stays apart.
_clients: dict[tuple[int, str | None, str], tuple[Any, Any]] = {}


def _shared_client(make: Any, api_key: str | None, base_url: str | None, **kwargs: Any) -> Any:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return make(api_key=api_key, base_url=base_url, **kwargs)
    key = (id(loop), base_url, api_key or "")
    found = _clients.get(key)
    if found is None or found[0] is not loop or kwargs:
        found = (loop, make(api_key=api_key, base_url=base_url, **kwargs))
        if not kwargs:
            _clients[key] = found
    return found[1]


def openai_llm(base_url: str | None, api_key: str, model: str, options: dict[str, Any]) -> Any:
    from pipecat.services.openai.llm import OpenAILLMService

    class SharedClientOpenAILLMService(OpenAILLMService):
        def create_client(self, api_key=None, base_url=None, **kwargs):  # noqa: ANN001, ANN202
            extra = {k: v for k, v in kwargs.items() if v is not None}
            return _shared_client(super().create_client, api_key, base_url, **extra)

    settings = OpenAILLMService.Settings(model=model)
    if "temperature" in options:
        settings.temperature = float(options["temperature"])
    if "max_tokens" in options:
        settings.max_tokens = int(options["max_tokens"])
    return SharedClientOpenAILLMService(api_key=api_key, base_url=base_url, settings=settings)


class OpenAIProvider:
    name = "openai"
    kind = "llm"

    @staticmethod
    def _local(part: PartSpec) -> bool:
        base_url = part.options.get("base_url")
        return isinstance(base_url, str) and base_url.startswith(("http://127.", "http://localhost"))

    def required_env(self, part: PartSpec) -> list[str]:
        if self._local(part):
            return []  # a server on this machine needs no key
        return [n for n in [secret_name(part.options, "api_key", "OPENAI_API_KEY")] if n]

    def create(self, part: PartSpec, audio: CallAudio) -> Any:
        base_url = part.options.get("base_url")
        local = self._local(part)
        try:
            key = secret(part.options, "api_key", "OPENAI_API_KEY")
        except ProviderUnavailable:
            if not local:
                raise
            key = "local"  # a server on this machine needs no key, but the client wants one
        return openai_llm(base_url, key, part.model or "gpt-4.1-mini", part.options)


provider = OpenAIProvider()
