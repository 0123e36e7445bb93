"""Every benchmark in benchmarks/, one table: each figure beside its same-run
baseline, and the latest figures written to docs/benchmarks.md.

    python -m benchmarks.report [--full] [--only engine,load [--merge]] [--soak-minutes 50] [--no-write]

Each benchmark runs as its own subprocess (`python -m benchmarks.NAME`), with
short settings unless `--full` (then each one's own defaults).  Benchmarks this
report does not know yet are run too (no flags) and their output is kept raw.
The soak's 24 h projection needs a run past the point where every history list
is at its bound (about ten minutes) and long enough after it to show the
plateau (45 minutes or more): `--soak-minutes` sets its length alone.
`--only X --merge` re-runs X and replaces only its rows and run in the file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HELPERS = {"report", "peers", "reference", "workload", "__init__"}


@dataclass
class Row:
    benchmark: str
    figure: str
    value: str
    baseline: str = ""
    baseline_value: str = ""
    ratio: str = ""
    target: str = ""
    ok: bool | None = None


Parser = Callable[[str], list[Row]]


def _num(pattern: str, text: str, group: int = 1) -> float | None:
    m = re.search(pattern, text)
    return float(m.group(group).replace(",", "")) if m else None


def _json_line(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                out: dict[str, Any] = json.loads(line)
                return out
            except ValueError:
                continue
    return None


def _f(x: float | None, fmt: str = ",.0f") -> str:
    return "?" if x is None else format(x, fmt)


def parse_engine(text: str) -> list[Row]:
    d = _json_line(text) or {}
    rates = d.get("ops_per_s", {})
    ours = rates.get("kraken-sim")
    rows = [Row("engine", "fills vs brute-force reference", "identical" if d.get("fills_identical") else "DIFFERENT",
                ok=bool(d.get("fills_identical")))]
    for peer, target in (("pyorderbook", 2.0), ("pyorderbook+orders", None), ("lightmatchingengine", None)):
        base = rates.get(peer)
        ratio = ours / base if ours and base else None
        rows.append(Row("engine", "matching throughput (ops/s)", _f(ours), peer, _f(base), _f(ratio, ".2f") + "x",
                        f">= {target:.2f}x" if target else "", None if target is None or ratio is None
                        else ratio >= target))
    dflt = d.get("ops_per_s_default_gc", {})
    if dflt.get("kraken-sim") and dflt.get("pyorderbook"):
        r = dflt["kraken-sim"] / dflt["pyorderbook"]
        rows.append(Row("engine", "matching throughput, CPython's default GC (ops/s)", _f(dflt["kraken-sim"]),
                        "pyorderbook", _f(dflt["pyorderbook"]), _f(r, ".2f") + "x"))
    n = int(d.get("memory_orders") or 0)
    for k, label in (("journal", "journal on"), ("no_journal", "journal off")):
        mib = d.get("peak_mib", {}).get(k)
        if mib is not None:
            full = n >= 1_000_000  # the target is stated for 1M resting orders
            rows.append(Row("engine", f"peak RSS, {n:,} resting orders ({label}), MiB", _f(mib),
                            target="< 1024 at 1M" if full else "", ok=(mib < 1024) if full else None))
    return rows


def parse_startup(text: str) -> list[Row]:
    med = _num(r"venue start .*?median (\d+) ms", text)
    bare = _num(r"bare uvicorn start .*?median (\d+) ms", text)
    stop = _num(r"venue stop: median (\d+) ms", text)
    ratio = med / bare if med and bare else None
    return [
        Row("startup", "venue start, all listeners (ms, median)", _f(med), "bare uvicorn start", _f(bare),
            _f(ratio, ".1f") + "x", "< 300 ms", None if med is None else med < 300),
        Row("startup", "venue stop (ms, median)", _f(stop)),
    ]


def parse_spot_rest(text: str) -> list[Row]:
    sim = _num(r"simulator\s*:\s*([\d.,]+) round trips/s", text)
    bare = _num(r"bare FastAPI:\s*([\d.,]+) round trips/s", text)
    sim_ms = _num(r"simulator\s*:.*?median round trip ([\d.]+) ms", text)
    bare_ms = _num(r"bare FastAPI:.*?median round trip ([\d.]+) ms", text)
    ratio = sim / bare if sim and bare else None
    return [
        Row("spot_rest", "AddOrder+CancelOrder round trips/s", _f(sim), "bare FastAPI endpoint", _f(bare),
            _f(ratio, ".2f"), ">= 0.50", None if ratio is None else ratio >= 0.5),
        Row("spot_rest", "median round trip (ms)", _f(sim_ms, ".2f"), "bare FastAPI endpoint", _f(bare_ms, ".2f")),
    ]


def parse_spot_ws(text: str) -> list[Row]:
    fan = _num(r"kraken-sim :\s*([\d,]+) messages/s", text)
    fan_bare = _num(r"bare ws\s*:\s*([\d,]+) messages/s", text)
    rt = _num(r"add_order->ack :\s*([\d,]+) /s", text)
    rt_bare = _num(r"bare echo\s*:\s*([\d,]+) /s", text)
    r1 = fan / fan_bare if fan and fan_bare else None
    r2 = rt / rt_bare if rt and rt_bare else None
    return [
        Row("spot_ws", "book fan-out to 20 subscribers (msgs/s)", _f(fan), "bare WS send loop", _f(fan_bare),
            _f(r1, ".2f")),
        Row("spot_ws", "add_order->ack round trips/s", _f(rt), "bare WS echo", _f(rt_bare), _f(r2, ".2f")),
    ]


def parse_fix(text: str) -> list[Row]:
    d = _json_line(text) or {}
    sim, bare = d.get("simulator_per_s"), d.get("bare_echo_per_s")
    ratio = d.get("ratio", d.get("ratio_best"))
    target = d.get("target_ratio")
    return [Row("fix", "NewOrderSingle->ExecutionReport round trips/s", _f(sim), "bare simplefix echo", _f(bare),
                _f(ratio, ".2f"), f">= {target}" if target is not None else "",
                None if ratio is None or target is None else ratio >= target)]


def parse_load(text: str) -> list[Row]:
    d = _json_line(text) or {}
    rows = []
    calm = d.get("baseline", {}).get("protocols", {})
    for proto, p in d.get("protocols", {}).items():
        b = calm.get(proto)
        name = "same clients, no faults" if b else ""
        ratio = p["acks_per_s"] / b["acks_per_s"] if b and b["acks_per_s"] else None
        rows.append(Row("load", f"{proto}: acks/s (all clients, faults on)", _f(p["acks_per_s"]), name,
                        _f(b["acks_per_s"]) if b else "", _f(ratio, ".2f") if ratio else ""))
        rows.append(Row("load", f"{proto}: ack latency p50 / p99 (ms)", f"{p['p50_ms']:.2f} / {p['p99_ms']:.2f}",
                        name, f"{b['p50_ms']:.2f} / {b['p99_ms']:.2f}" if b else ""))
    s = d.get("stats", {})
    if d:
        problems = d.get("problems", 0) + d.get("baseline", {}).get("problems", 0)
        rows.append(Row("load", "reconciliation problems (both runs)", str(problems), target="0", ok=problems == 0))
        rows.append(Row("load", "orders / fills / in doubt (executed) / kills",
                        f"{s.get('orders')} / {s.get('fills')} / {s.get('in_doubt')} ({s.get('in_doubt_executed')})"
                        f" / {s.get('kills')}"))
        sc = s.get("slow_consumer") or {}
        if sc:
            rows.append(Row("load", "slow WS consumer: close code (drained msgs)",
                            f"{sc.get('close_code')} ({sc.get('drained_messages')})"))
    return rows


def parse_contention(text: str) -> list[Row]:
    d = _json_line(text) or {}
    idle = d.get("idle")
    if not idle:
        return []
    base = f"{idle['p50_ms']:.2f} / {idle['p99_ms']:.2f}"
    rows = []
    ws = d.get("ws", 0)
    for key, what in (("history", f"history polled ({d.get('orders', 0):,} closed orders)"),
                      ("fanout_shared", f"{ws} public WS subscribers, at normal priority beside the probe"),
                      ("fanout", f"{ws} public WS subscribers, at nice 19")):
        r = d.get(key)
        if not r:
            continue
        judged = key != "fanout_shared"  # the subscribers' own CPU delays the probe: shown, not judged
        worst = max(r.get("ratio_p50", 0.0), r.get("ratio_p99", 0.0))
        rows.append(Row("contention", f"order latency p50 / p99 (ms), {what}", f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}",
                        "same client, venue idle", base, f"{r['ratio_p50']:.2f}x / {r['ratio_p99']:.2f}x",
                        "<= 2.00x" if judged else "", (worst <= 2.0) if judged else None))
    return rows


def parse_floor(text: str) -> list[Row]:
    pyob = _num(r"pyorderbook: ([\d.]+) us/op", text)
    budget = _num(r"target leaves ([\d.]+) us/op", text)
    floor = _num(r"allocation floor .*?: ([\d.]+) us/op", text)
    ratio = floor / budget if floor and budget else None
    return [Row("floor", "allocation floor of the engine workload (us/op)", _f(floor, ".2f"),
                "2x-pyorderbook budget", _f(budget, ".2f"), _f(ratio, ".2f") + "x",
                f"pyorderbook {_f(pyob, '.2f')} us/op")]


def parse_check_peers(text: str) -> list[Row]:
    rows = []
    for m in re.finditer(r"^\s+(\S+)\s+([\d,]+) fills\s+(MATCH|\S+)", text, re.M):
        rows.append(Row("check_peers", f"{m.group(1)} fills vs brute-force reference", m.group(3).lower(),
                        ok=m.group(3) == "MATCH"))
    return rows


def parse_json_writer(text: str) -> list[Row]:
    d = _json_line(text) or {}
    rows = [Row("json_writer", "orjson vs the replaced writer: identical bytes", "yes" if d.get("identical") else "NO",
                ok=bool(d.get("identical")))]
    for name, p in d.get("payloads", {}).items():
        rows.append(Row("json_writer", f"{name} (us per message)", _f(p["new_us"], ".2f"), "hand-written writer",
                        _f(p["old_us"], ".2f"), _f(p["speedup"], ".1f") + "x faster"))
    return rows


def parse_soak(text: str) -> list[Row]:
    d = _json_line(text) or {}
    if not d:
        return []
    flags = d.get("flags", "defaults")
    proj = d.get("projected_24h_mib")
    rows = [
        Row("soak", f"RSS start / end / peak (MiB), {d.get('minutes')} min at {d.get('commands_per_s')} commands/s",
            f"{d.get('rss_start_mib')} / {d.get('rss_end_mib')} / {d.get('rss_peak_mib')}"),
        Row("soak", f"RSS slope after warm-up (MiB/h), {flags}"
            + (", not explained by history held" if d.get("model") else ""), _f(d.get("slope_mib_per_h"), "+,.1f")),
        Row("soak", f"RSS alone, linear 24 h (MiB, filling as if it never stopped), {flags}",
            _f(d.get("linear_projected_24h_mib"))),
        # before the histories reach their retention bounds the slope is the filling: an upper bound, not judged
        Row("soak", f"24 h RSS projection (MiB), {flags}"
            + ("" if d.get("at_bounds_s") is not None else " (bounds not reached: upper bound)"),
            _f(proj), target="< 1024",
            ok=None if proj is None or d.get("at_bounds_s") is None else bool(d.get("ok"))),
    ]
    return rows


# name -> (quick flags, full flags, parser)
KNOWN: dict[str, tuple[list[str], list[str], Parser]] = {
    "engine": (["--ops", "50000", "--check-ops", "5000", "--repeat", "1", "--memory-orders", "200000", "--json"],
               ["--json"], parse_engine),
    "floor": (["--ops", "50000", "--repeat", "1"], [], parse_floor),
    "startup": (["--n", "5"], [], parse_startup),
    "spot_rest": (["--seconds", "2", "--rounds", "1"], [], parse_spot_rest),
    "spot_ws": (["--seconds", "2"], [], parse_spot_ws),
    "fix": (["--seconds", "2", "--rounds", "1"], [], parse_fix),
    "load": (["--seconds", "6", "--baseline", "--json"], ["--baseline", "--json"], parse_load),
    "json_writer": (["--n", "1000", "--repeat", "3", "--json"], ["--json"], parse_json_writer),
    "contention": (["--orders", "120000", "--seconds", "6", "--json"], ["--json"], parse_contention),
    "check_peers": (["--check-ops", "2000", "--ops", "20000", "--repeat", "1"], [], parse_check_peers),
    "soak": (["--minutes", "3", "--json"], ["--minutes", "30", "--json"], parse_soak),
}


def discover() -> list[str]:
    """Every benchmarks/NAME.py with a main(), known ones first, in a fixed order."""
    found = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py")
                   if p.stem not in HELPERS and "def main(" in p.read_text(encoding="utf-8"))
    return [n for n in KNOWN if n in found] + [n for n in found if n not in KNOWN]


def run(name: str, flags: list[str], timeout: float) -> tuple[int, str, float]:
    t0 = time.monotonic()
    try:
        p = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *flags], cwd=ROOT, capture_output=True,
                           text=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        out = p.stdout + (("\n[stderr]\n" + p.stderr[-2000:]) if p.returncode and p.stderr else "")
        return p.returncode, out, time.monotonic() - t0
    except subprocess.TimeoutExpired as exc:
        text = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode(errors="replace")
        return -1, text + f"\n[timed out after {timeout:.0f} s]", time.monotonic() - t0


def table(rows: list[Row]) -> str:
    head = ["benchmark", "figure", "value", "same-run baseline", "baseline", "ratio", "target", "met"]
    body = [[r.benchmark, r.figure, r.value, r.baseline, r.baseline_value, r.ratio, r.target,
             "" if r.ok is None else ("yes" if r.ok else "NO")] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in body]
    return "\n".join(lines)


def markdown(rows: list[Row], outputs: dict[str, tuple[int, str, float]], full: bool, command: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"Python {platform.python_version()}, {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    parts = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {when} ({machine}).",
        "Every figure is measured beside its baseline in the same run, so the ratios hold across machines;",
        "the absolute numbers are this machine's. "
        + ("Full settings (each benchmark's defaults)." if full else
           "Short settings (`--full` runs each benchmark's defaults)."),
        "",
        table(rows),
        "",
        "## Runs",
        "",
    ]
    for name, (code, out, secs) in outputs.items():
        status = "ok" if code == 0 else f"exit {code}"
        parts += [f"### {name} ({status}, {secs:.0f} s)", "", "```", out.strip()[-6000:], "```", ""]
    return "\n".join(parts)


def merge(old: str, rows: list[Row], outputs: dict[str, tuple[int, str, float]], command: str) -> str:
    """`old` (a report this module wrote) with the rows and runs of the benchmarks
    just run replaced, in place, and a line saying which were re-run when; the
    others keep their figures and their own run's date."""
    names = set(outputs)
    head, _, runs = old.partition("\n## Runs\n")
    lines = head.split("\n")
    first = next(i for i, ln in enumerate(lines) if ln.startswith("| "))
    last = max(i for i, ln in enumerate(lines) if ln.startswith("| "))
    kept: list[Row] = []
    placed = False
    for ln in lines[first + 2 : last + 1]:  # past the header and its rule
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if cells[0] in names:
            if not placed:
                kept += rows
                placed = True
            continue
        ok = {"yes": True, "NO": False}.get(cells[7])
        kept.append(Row(cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], ok))
    if not placed:
        kept += rows
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = [ln for ln in lines[:first] if not ln.startswith(f"Re-run: {', '.join(sorted(names))} ")]
    while note and not note[-1]:
        note.pop()
    note += [f"Re-run: {', '.join(sorted(names))} by `{command}` on {when}.", ""]
    sections = ["### " + sec for sec in runs.split("\n### ") if sec.strip()]
    sections = [sec.removeprefix("### ### ") if sec.startswith("### ### ") else sec for sec in sections]
    fresh = {}
    for name, (code, out, secs) in outputs.items():
        status = "ok" if code == 0 else f"exit {code}"
        fresh[name] = "\n".join([f"### {name} ({status}, {secs:.0f} s)", "", "```", out.strip()[-6000:], "```", ""])
    body = [fresh.pop(sec.split()[1], sec) for sec in sections] + list(fresh.values())
    return "\n".join([*note, table(kept), "", "## Runs", "", *(b.rstrip("\n") + "\n" for b in body)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="each benchmark's own default settings (slow)")
    ap.add_argument("--only", default="", help="comma-separated benchmark names")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per benchmark")
    ap.add_argument("--soak-minutes", type=float, default=None, help="the soak's length (its projection needs 45+)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    ap.add_argument("--merge", action="store_true",
                    help="with --only: replace those benchmarks' rows and runs in the file, keep the others")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    a = ap.parse_args(argv)
    names = discover()
    if a.only:
        wanted = [n.strip() for n in a.only.split(",") if n.strip()]
        names = [n for n in names if n in wanted]
    rows: list[Row] = []
    outputs: dict[str, tuple[int, str, float]] = {}
    for name in names:
        quick, full, parser = KNOWN.get(name, ([], [], lambda _t: []))
        flags, timeout = (full if a.full else quick), a.timeout
        if name == "soak" and a.soak_minutes is not None:
            flags = [*flags, "--minutes", f"{a.soak_minutes:g}"]  # the last --minutes counts
            timeout = max(timeout, a.soak_minutes * 60 + 300)
        print(f"running benchmarks.{name} ...", file=sys.stderr, flush=True)
        code, out, secs = run(name, flags, timeout)
        outputs[name] = (code, out, secs)
        try:
            got = parser(out)
        except Exception as exc:  # noqa: BLE001 - one benchmark's odd output must not sink the report
            got = [Row(name, "could not read figures", repr(exc))]
        if code != 0 and not got:
            got = [Row(name, "run failed", f"exit {code}")]
        if name not in KNOWN:
            got = [Row(name, "(raw output below)", f"exit {code}")]
        rows += got
    print(table(rows))
    if not a.no_write:
        command = "python -m benchmarks.report" + (" --full" if a.full else "") + (
            f" --soak-minutes {a.soak_minutes:g}" if a.soak_minutes is not None else "")
        out_path = Path(a.out)
        if a.merge and a.only and out_path.exists():
            text = merge(out_path.read_text(encoding="utf-8"), rows, outputs, f"{command} --only {a.only} --merge")
        else:
            text = markdown(rows, outputs, a.full, command)
        out_path.write_text(text, encoding="utf-8")
        print(f"\nwrote {a.out}", file=sys.stderr)
    return 0 if all(code == 0 for code, _, _ in outputs.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
