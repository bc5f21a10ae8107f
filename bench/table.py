"""The report as one plain-text table: every figure with its spread, its target and a verdict."""

from __future__ import annotations

from typing import Any

HEAD = ("section", "figure", "n", "median", "p95", "max", "target", "verdict")


def _f(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def _stat_row(section: str, figure: str, s: dict[str, Any], target: str = "", verdict: str = "") -> tuple:
    return (section, figure, _f(s.get("n")), _f(s.get("median")), _f(s.get("p95")), _f(s.get("max")), target, verdict)


def _verdict(targets: dict[str, Any], *keys: str) -> str:
    found = [targets[k] for k in keys if k in targets]
    if not found:
        return ""
    return "met" if all(t["met"] for t in found) else "MISSED"


def rows(report: dict[str, Any]) -> list[tuple]:
    out: list[tuple] = []
    for p, r in (report.get("turns") or {}).items():
        sec = f"turn ({p})"
        t = r.get("targets", {})
        if p == "a":
            out.append(_stat_row(sec, "orchestration: VAD stop -> 1st agent frame, ms", r["orchestration_ms"],
                                 "median <= 30", _verdict(t, "orchestration_ms.median")))
            out.append(_stat_row(sec, "endpointing: last speech -> VAD stop, ms", r["endpointing_ms"]))
            out.append(_stat_row(sec, "total: last speech -> 1st agent frame, ms", r["total_ms"]))
        elif p == "b":
            out.append(_stat_row(sec, "total: last speech -> 1st agent frame, ms", r["total_ms"],
                                 "med < 450, p95 < 600", _verdict(t, "total_ms.median", "total_ms.p95")))
            out.append(_stat_row(sec, "  of which endpointing (replayed VAD), ms", r["endpointing_ms"]))
        else:
            out.append(_stat_row(sec, "total: last speech -> 1st agent frame, ms", r["total_ms"], "reported"))
            out.append(_stat_row(sec, "  of which endpointing (replayed VAD), ms", r["endpointing_ms"]))
        prom = r.get("runner_prometheus") or {}
        if prom:
            parts = ", ".join(f"{k} {v['mean_ms']}" for k, v in prom.items())
            out.append((sec, f"runner's own /metrics, mean ms: {parts}", "", "", "", "", "", ""))
        pre = r.get("preemptive_answers") or {}
        if pre:
            out.append((sec, f"answers started before the VAD's stop: {pre.get('played', 0)} played, "
                             f"{pre.get('withdrawn', 0)} withdrawn", "", "", "", "", "", ""))
        if r.get("errors"):
            out.append((sec, f"errors: {r['errors'][:2]}", "", "", "", "", "", "FAILED"))
    for ms, r in (report.get("bargein") or {}).items():
        sec = f"barge-in {ms.replace(' before', 'ms, CB_BACKCHANNELS=0')}" + ("" if "before" in ms else "ms")
        t = r.get("targets", {})
        out.append(_stat_row(sec, "onset -> silence (Twilio played out, or cleared), ms", r["onset_to_silence_ms"],
                             "p95 <= 250 (150)", _verdict(t, "onset_to_silence_ms.p95")))
        out.append(_stat_row(sec, "onset -> clear (the decision), ms", r["onset_to_clear_ms"]))
        out.append(_stat_row(sec, "onset -> VAD decision (replayed), ms", r["onset_to_decision_ms"]))
        out.append(_stat_row(sec, "onset -> last agent frame, ms", r["onset_to_last_frame_ms"]))
        out.append((sec, "barge-ins that cleared", "", f"{r['cleared']}/{r['barge_ins']}", "", "", "all",
                    "met" if r["cleared"] == r["barge_ins"] else "MISSED"))
        if "backchannels" in r:
            b, c = r["backchannels"], r["coughs"]
            out.append((sec, "backchannels that stopped the agent", "", f"{b['stopped']}/{b['tried']}", "", "",
                        "<= 1 in 10", _verdict(t, "backchannel_stops")))
            out.append((sec, "coughs that stopped the agent", "", f"{c['stopped']}/{c['tried']}", "", "", "0", ""))
            out.append(_stat_row(sec, f"backchannel pauses ({b['paused']}/{b['tried']}): gap before it went on, ms",
                                 b["resume_gap_ms"]))
            out.append(_stat_row(sec, f"false pauses on a cough ({c['paused']}/{c['tried']}): gap, ms",
                                 c["resume_gap_ms"]))
        else:  # reports from before backchannels
            for key, label in (("false_cough", "false barge-ins on a cough"), ("false_mm_hm", 'false barge-ins on "mm-hm"')):
                f = r[key]
                out.append((sec, label, "", f"{f['false_barge_ins']}/{f['tried']}", "", "", "counted", ""))
        if r.get("errors"):
            out.append((sec, f"errors: {r['errors'][:2]}", "", "", "", "", "", "FAILED"))
    c = report.get("concurrency")
    if c:
        for row in c["steps"]:
            sec = f"calls N={row['calls']}"
            out.append(_stat_row(sec, "turn total, ms", row["total_ms"],
                                 f"p95 <= {1.5 * (c['single_call_p95_ms'] or 0):.0f}" if row["calls"] > 1 else "baseline",
                                 "ok" if row["judged"]["passed"] else "FAIL"))
            pre = (row.get("jitter_incl_preroll_ms") or {}).get("p99")
            if "late_ms" in row:  # reports from before the lead judged the inter-arrival jitter
                out.append(_stat_row(sec, f"agent frames late for Twilio's playout, ms ({row['frames_late']} of "
                                          f"{row['frames']} heard late)", row["late_ms"], "p99 < 20", ""))
            out.append(_stat_row(sec, f"agent frame jitter, ms (p99: {_f(row['jitter_ms'].get('p99'))}; "
                                      f"with pipecat's pre-roll: {_f(pre)})", row["jitter_ms"],
                                 "reported" if "late_ms" in row else "p99 < 20", ""))
            out.append((sec, f"runner cpu {row['runner_cpu_pct']}% ({row.get('runner_cpu_pct_per_call')}% a call), caller cpu {row['caller_cpu_pct']}%, "
                             f"loop lag p95 {_f(row['runner_loop_lag_ms'].get('p95'))} ms, failed calls {row['failed_calls']}",
                        "", "", "", "", "", ""))
        out.append(("concurrency", "largest N held (p95 <= 1.5x one call, frames late p99 < 20 ms)", "",
                    str(c["max_calls_held"]), "", "", ">= 100", "met" if c["met"] else "MISSED"))
        o = c.get("overload") or {}
        if o.get("judged"):
            out.append(("concurrency", f"at 1.5x the ceiling ({o['calls']} calls, admission on): {o['refused_calls']} refused; "
                                       f"the calls taken: turn p95 {_f(o['total_ms'].get('p95'))} ms, late p99 "
                                       f"{_f(o['late_ms'].get('p99'))} ms", "", "", "", "", "within target",
                        "met" if o["judged"]["passed"] else "MISSED"))
        if c.get("cpu_pct_per_call"):
            out.append(("concurrency", f"runner cpu per call {c['cpu_pct_per_call']}% of a core -> projected "
                                       f"{c['projected_calls_per_core_at_80pct']} calls/core at 80% (if the core were free)",
                        "", "", "", "", "", "projection"))
    ctl = report.get("control") or {}
    v = ctl.get("validate") or {}
    if "median_s" in v:
        out.append(("control", "cb validate, 1000 agents/1000 tools/500 numbers, s", str(v.get("runs")),
                    f"{v['median_s']:.3f}", "", f"{v['max_s']:.3f}", "median < 2", "met" if v.get("met") else "MISSED"))
    elif v:
        out.append(("control", "cb validate", "", "", "", "", "", "FAILED"))
    cb = ctl.get("control") or {}
    met = cb.get("met") or {}
    labels = (("plan_noop", "cb plan, no changes (fresh process), s", "< 2", met.get("plan")),
              ("apply_noop", "cb apply, no changes, s", "", None),
              ("plan_one_change", "cb plan, one agent changed, s", "< 2", met.get("plan")),
              ("apply_one_change_command", "cb apply, one agent changed (whole command), s", "", None),
              ("apply_one_change_runner_side", "apply one change, runner side (lock+apply+unlock), s", "< 0.5",
               met.get("apply_one_change")))
    for key, label, target, ok in labels:
        s = cb.get(key)
        if isinstance(s, dict) and "median_s" in s:
            out.append(("control", label, _f(cb.get("runs")), f"{s['median_s']:.3f}", "", f"{s['max_s']:.3f}", target,
                        "" if ok is None else ("met" if ok else "MISSED")))
    if "error" in cb:
        out.append(("control", "control_bench.py", "", "", "", "", "", "FAILED"))
    for name, r in (report.get("cutoff") or {}).items():
        sec, t = f"pauses: {name}", r.get("targets", {})
        gaps = ", ".join(f"{g} ms {v['cut_off']}/{v['paused_lines']}" for g, v in r["by_gap"].items())
        out.append((sec, f"callers cut off in a mid-sentence pause ({gaps})", str(r["paused_lines"]),
                    f"{r['cut_off']}/{r['paused_lines']}", "", "", "none", _verdict(t, "cut_off_rate")))
        out.append(_stat_row(sec, "turn: last speech -> 1st agent frame, ms (lines not cut off)", r["total_ms"],
                             "median < 500", _verdict(t, "total_ms.median")))
        out.append((sec, f"answers per line spoken: {r['answers_per_line']}", "", "", "", "", "1.0", ""))
        if r.get("errors"):
            out.append((sec, f"errors: {r['errors'][:2]}", "", "", "", "", "", "FAILED"))
    q = report.get("quality")
    if q:
        out += quality_rows(q)
    bk = report.get("booking") or {}
    if bk.get("now"):
        now, was = bk["now"], bk.get("before") or {}
        out.append(("booking", "passes on SmolLM2-135M (booked, valid slot + name, returns filled, ended)",
                    str(now["runs"]), f"{now['passed']}/{now['runs']}", "", "",
                    f"before {was.get('passed', '-')}/{was.get('runs', '-')}", "reported"))
        out.append(("booking", f"  booked {now['booked']}, slot asked {now['slot_right']}, returns filled "
                               f"{now['returns_filled']}, ended {now['ended']}, errors {now['errors']}",
                    "", "", "", "", "", ""))
    return out


def quality_rows(q: dict[str, Any]) -> list[tuple]:
    """bench/quality.py: one Piper call, the caller's ear against the TTS's own frames."""
    sec = f"caller's ear ({q.get('call_s', '-')} s call)"
    if "error" in q:
        return [(sec, f"error: {q['error'][:100]}", "", "", "", "", "", "FAILED")]
    if q.get("caller_error"):
        sec += f", cut short: {q['caller_error'][:40]}"
    t, p, c = q["targets"], q["pesq_nb"], q["pesq_nb_content"]
    ceiling = q["g711_ceiling"]["median"]
    causes = q["underrun_causes"]

    def f2(v: Any) -> str:
        return "-" if v is None else f"{v:.2f}"

    return [
        (sec, "PESQ NB per reply, as heard (gaps included)", _f(p["n"]), f2(p["median"]), "", f"min {f2(p['min'])}",
         f"G.711 ceiling {f2(ceiling)}", _verdict(t, "pesq_nb.median")),
        (sec, "PESQ NB per reply, the audio alone (gaps closed)", _f(p["n"]), f2(c["median"]), "", f"min {f2(c['min'])}",
         "", ""),
        (sec, f"dropped / doubled frames (content alignment; cut by a barge-in's clear: "
              f"{q.get('cut_by_clear_frames', 0)})", "", f"{q['dropped_frames']} / {q['doubled_frames']}",
         "", "", "0 / 0", _verdict(t, "dropped_frames", "doubled_frames")),
        (sec, f"underruns: a frame due mid-reply came late ({q['gap_ms']} ms of gaps; TTS late {causes['tts']}, "
              f"sent late {causes['transport']}, delivered late {causes.get('delivery', 0)})", "", str(q["underruns"]), "", "", "0", _verdict(t, "underruns")),
        (sec, f"inter-arrival jitter of agent frames, ms (p99 {_f(q['jitter_ms']['p99'])})", "",
         _f(q["jitter_ms"]["p50"]), "", _f(q["jitter_ms"]["max"]), "", ""),
    ]


def render(report: dict[str, Any]) -> str:
    table = [HEAD] + rows(report)
    widths = [max(len(str(r[i])) for r in table) for i in range(len(HEAD))]
    lines = []
    for i, r in enumerate(table):
        lines.append("  ".join(str(c).ljust(w) if j < 2 or j >= 6 else str(c).rjust(w)
                               for j, (c, w) in enumerate(zip(r, widths))).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    m = report.get("machine_before") or {}
    ma = report.get("machine_after") or {}
    lines.append(f"\nmachine: {m.get('cpus')} cpus, load average before {m.get('loadavg')} after {ma.get('loadavg')} "
                 f"(shared with other work), pipecat {m.get('pipecat')}, git {m.get('git')}, wall {report.get('wall_s')} s")
    if report.get("runner_env"):
        lines.append("runner environment: " + " ".join(f"{k}={v}" for k, v in report["runner_env"].items()))
    return "\n".join(lines)
