"""TTS provider ``cartesia``: Cartesia's streaming WebSocket API (key: CARTESIA_API_KEY).

The voice is ``options.voice_id``, else the agent's ``voice`` (as resolved to an id by cb.lock).
Options: ``api_key`` as ``${env:NAME}``, ``url`` (a compatible WebSocket server).
"""

from __future__ import annotations

from typing import Any

from cb.providers import CallAudio, PartSpec, ProviderUnavailable, require, secret, secret_name


class CartesiaProvider:
    name = "cartesia"
    kind = "tts"

    def required_env(self, part: PartSpec) -> list[str]:
        return [n for n in [secret_name(part.options, "api_key", "CARTESIA_API_KEY")] if n]

    def create(self, part: PartSpec, audio: CallAudio) -> Any:
        require("cartesia", "cloud", "cartesia")
        from pipecat.services.cartesia.tts import CartesiaTTSService

        voice = part.options.get("voice_id") or audio.voice
        if not voice:
            raise ProviderUnavailable("cartesia needs a voice: set the agent's `voice` or pipeline.tts.options.voice_id")
        settings = CartesiaTTSService.Settings(model=part.model or "sonic-2", voice=voice)
        kwargs = {"url": part.options["url"]} if part.options.get("url") else {}
        return CartesiaTTSService(api_key=secret(part.options, "api_key", "CARTESIA_API_KEY"),
                                  sample_rate=audio.sample_rate, settings=settings, **kwargs)


provider = CartesiaProvider()
