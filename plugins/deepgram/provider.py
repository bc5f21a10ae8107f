"""STT provider ``deepgram``: Deepgram's streaming WebSocket API (key: DEEPGRAM_API_KEY).

Options: ``api_key`` as ``${env:NAME}``, ``base_url`` (a compatible server, e.g. in tests).
The call's vocabulary (``CallAudio.vocabulary``) goes as Nova-3 ``keyterm`` query parameters.
"""

from __future__ import annotations

from typing import Any

from cb.providers import CallAudio, PartSpec, require, secret, secret_name


class DeepgramProvider:
    name = "deepgram"
    kind = "stt"

    def required_env(self, part: PartSpec) -> list[str]:
        return [n for n in [secret_name(part.options, "api_key", "DEEPGRAM_API_KEY")] if n]

    def create(self, part: PartSpec, audio: CallAudio) -> Any:
        require("deepgram", "cloud", "deepgram-sdk")
        from pipecat.services.deepgram.stt import DeepgramSTTService

        settings = DeepgramSTTService.Settings(model=part.model or "nova-3", language=audio.language)
        if audio.vocabulary and (part.model or "nova-3").startswith("nova-3"):  # keyterm prompting is Nova-3's
            settings.keyterm = list(audio.vocabulary)
        return DeepgramSTTService(api_key=secret(part.options, "api_key", "DEEPGRAM_API_KEY"),
                                  base_url=str(part.options.get("base_url", "")),
                                  sample_rate=audio.sample_rate, settings=settings)


provider = DeepgramProvider()
