"""A headless baresip (Debian's ``baresip-core``) as the far end of a SIP call, for the e2e tests.

Each instance has a config folder of its own under the test's tmp dir: no audio device, its
microphone is ``aufile`` playing a WAV (8 kHz mono 16-bit, the caller's line spoken by Piper), its
loudspeaker is ``aubridge`` (a sink nobody reads) and ``sndfile`` records both directions as
``dump-*-dec.wav`` (what it heard) and ``dump-*-enc.wav`` (what it said). SIP and RTP stay on
127.0.0.1; with ``answer=True`` it auto-answers incoming calls to ``user`` (the account's ``answermode=auto``).
aufile hangs the call up when its file ends, so the file's trailing silence sets how long it
listens.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

CONFIG = """\
poll_method\t\tpoll
sip_listen\t\t127.0.0.1:{port}
audio_player\t\taubridge,sink
audio_source\t\taufile,{source}
audio_alert\t\taubridge,sink
audio_srate\t\t8000
audio_channels\t\t1
module_path\t\t{modules}
module\t\t\tstdio.so
module\t\t\tg711.so
module\t\t\taufile.so
module\t\t\taubridge.so
module\t\t\tsndfile.so
module_app\t\taccount.so
module_app\t\tmenu.so
snd_path\t\t{recordings}
rtp_timeout\t\t0
"""


def installed() -> bool:
    return shutil.which("baresip") is not None and modules() is not None


def modules() -> Path | None:
    for folder in (Path("/usr/lib/baresip/modules"), Path("/usr/lib/x86_64-linux-gnu/baresip/modules"),
                   Path("/usr/local/lib/baresip/modules")):
        if (folder / "aufile.so").exists() and (folder / "sndfile.so").exists():
            return folder
    return None


def write_wav(path: Path, pcm16_8k: bytes, *, lead_secs: float, tail_secs: float) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * lead_secs) + pcm16_8k + b"\0\0" * int(8000 * tail_secs))
    return path


class Baresip:
    def __init__(self, root: Path, port: int, source: Path, *, answer: bool = False, codec: str = "PCMU",
                 user: str = "callee"):
        self.root, self.port = root, port
        self.recordings = root / "recordings"
        self.recordings.mkdir(parents=True, exist_ok=True)
        (root / "config").write_text(CONFIG.format(port=port, source=source, modules=modules(),
                                                   recordings=self.recordings))
        mode = ";answermode=auto" if answer else ""
        (root / "accounts").write_text(f"<sip:{user}@127.0.0.1:{port}>;regint=0;audio_codecs={codec}{mode}\n")
        self.proc: subprocess.Popen | None = None
        self.log = root / "baresip.log"

    def start(self, *commands: str, seconds: int = 60) -> "Baresip":
        args = ["baresip", "-f", str(self.root), "-t", str(seconds)]
        for command in commands:
            args += ["-e", command]
        self.proc = subprocess.Popen(args, stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.root)
        return self

    def wait(self, timeout: float) -> None:
        assert self.proc is not None
        self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def heard(self) -> bytes:
        """What baresip heard on its last call: 8 kHz 16-bit PCM (empty when there was no call)."""
        found = sorted(self.recordings.glob("dump-*-dec.wav"))
        if not found:
            return b""
        with wave.open(str(found[-1])) as w:
            return w.readframes(w.getnframes())

    def loud_secs(self) -> float:
        pcm = np.frombuffer(self.heard(), dtype=np.int16)
        return float(np.count_nonzero(np.abs(pcm.astype(np.int32)) > 500)) / 8000
