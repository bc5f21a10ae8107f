"""Where a runner's CPU goes, from a py-spy profile: ``python -m bench.profile_summary PROFILE.txt``.

Record one while a concurrency step runs (bench/README.md, "Profiling")::

    .venv/bin/py-spy record -p RUNNER_PID -f raw -r 100 -d 20 --threads -o bench/results/prof/n40.txt
    .venv/bin/python -m bench.profile_summary bench/results/prof/n40.txt --thread MainThread

py-spy's ``raw`` output is one collapsed stack a line (``frame;frame;... count``, the innermost
frame last). Each sample is put down to the first group (below) that one of its frames, innermost
first, falls in, so "pipecat frame queues and tasks" is time in pipecat's per-processor machinery
that is not spent inside a part named before it. py-spy leaves idle samples out unless recorded
with ``--idle``; then those of a thread waiting in ``select`` are counted apart and left out of the
shares.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

IDLE = ("select (selectors.py", "epoll", "_run_once (asyncio/base_events.py", "poll (selectors.py")
# (group, substrings of a frame), innermost match wins; order matters only between groups that
# can both match one frame.
GROUPS = (
    ("Silero VAD (ONNX inference)", ("onnxruntime", "silero", "cb/plugins/local/vad.py", "plugins/local/vad.py")),
    ("Twilio serializer (mu-law, base64, JSON)", ("serializers/twilio", "audioop", "base64", "json/")),
    ("websocket and HTTP server", ("websockets/", "uvicorn/", "starlette/", "fastapi/", "h11/", "httptools")),
    ("resampling and audio utils", ("audio/utils", "resampl", "soxr", "numpy/")),
    ("cb call path (observer, duck, backchannel, turns)", ("cb/runner/", "runner/calls/")),
    ("pipecat transports", ("pipecat/transports/",)),
    ("pipecat turn and aggregators", ("pipecat/turns/", "pipecat/processors/aggregators/", "pipecat/audio/vad/")),
    ("pipecat frame queues and tasks", ("pipecat/processors/frame_processor", "pipecat/utils/asyncio",
                                        "pipecat/pipeline/", "pipecat/frames/", "pipecat/observers/")),
    ("pipecat services (scripted STT, LLM client, TTS)", ("pipecat/services/", "plugins/scripted/", "openai/", "httpx/",
                                                          "httpcore/")),
    ("pipecat other", ("pipecat/",)),
    ("asyncio loop and tasks", ("asyncio/",)),
)
LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")


def group_of(frames: list[str]) -> str:
    for frame in reversed(frames):  # innermost first
        for name, needles in GROUPS:
            if any(n in frame for n in needles):
                return name
    return "other"


def summarise(lines, thread: str | None = None) -> tuple[Counter, Counter, int, int]:
    groups, leaves, busy, idle = Counter(), Counter(), 0, 0
    for line in lines:
        m = LINE.match(line.rstrip("\n"))
        if not m:
            continue
        frames, count = m["stack"].split(";"), int(m["count"])
        if frames[0].startswith("thread ("):  # py-spy --threads: the thread is the outermost frame
            if thread is not None and thread not in frames[0]:
                continue
            frames = frames[1:]
        if not frames:
            continue
        if any(i in frames[-1] for i in IDLE):
            idle += count
            continue
        busy += count
        groups[group_of(frames)] += count
        leaves[re.sub(r":\d+\)$", ")", frames[-1])] += count
    return groups, leaves, busy, idle


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", help="py-spy record -f raw output")
    parser.add_argument("--top", type=int, default=15, help="innermost functions to list")
    parser.add_argument("--thread", help="only this thread's samples (recorded with --threads), e.g. MainThread: "
                                         "the event loop, the one that sets the ceiling")
    args = parser.parse_args(argv)
    with open(args.profile) as f:
        groups, leaves, busy, idle = summarise(f, args.thread)
    if idle:
        print(f"{busy} busy samples of {busy + idle} ({100 * busy / (busy + idle):.0f}% of the time not idle)")
    else:  # py-spy leaves idle samples out unless recorded with --idle
        print(f"{busy} busy samples (recorded without --idle: busy share = samples / (rate x seconds))")
    for name, n in groups.most_common():
        print(f"  {100 * n / max(busy, 1):5.1f}%  {name}")
    print(f"innermost functions (top {args.top}):")
    for name, n in leaves.most_common(args.top):
        print(f"  {100 * n / max(busy, 1):5.1f}%  {name[:150]}")


if __name__ == "__main__":
    main()
