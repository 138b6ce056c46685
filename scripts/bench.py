"""Benchmark driver for scripts/bench: lakepass against a plain sequential boto3 script, for
catalogs of any size, at real network latency.

Why this shape (issue "Catalogs of any size at real network latency"): against the local
emulator every call costs a few milliseconds, so only a proxy that adds a round trip to each
call shows what a user with 1,000 databases waits for against AWS. And a time means little
without a reference: the baseline (benchlib/baseline.py) is the careful hand-written script
doing the same job with the fewest calls, so the table says how lakepass compares, in time
and in calls.

What it does: starts moto on a free port and the proxy (benchlib/proxy.py) in front of it.
For each scenario it seeds the catalog, asks lakepass once (untimed, straight to moto) for
the plan JSON the baseline works from, then for each latency and round: resets moto,
re-seeds it (straight to moto, untimed) and times lakepass's plan, apply, no-op re-plan and
teardown, each a whole process through the proxy; then resets, re-seeds and times the
baseline's four phases (in-process time, see baseline.py). Calls are counted by the proxy.
It prints a Markdown table of medians, and the calls by action.

Usage: scripts/bench [BINARY] [--rounds N] [--only NAME] [--latencies 0,50] ...
(see --help). A lakepass phase that fails is reported as "failed" with the first line of
its stderr, and the benchmark goes on.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(SCRIPTS)
sys.path.insert(0, SCRIPTS)

from benchlib.baseline import PHASES  # noqa: E402
from benchlib.moto import Moto  # noqa: E402
from benchlib.proxy import Proxy  # noqa: E402
from benchlib.scenarios import DEFAULT_SCENARIOS, Scenario, seed, write_config  # noqa: E402

LAKEPASS_ARGS = {
    "plan": ["provision", "--plan"],
    "apply": ["provision", "--yes"],
    "noop": ["provision", "--plan", "--detailed-exitcode"],
    "teardown": ["teardown", "--yes"],
}
# Exit codes that mean success. A no-op re-plan must find nothing to change (exit 0).
SUCCESS = {"plan": {0, 2}, "apply": {0}, "noop": {0}, "teardown": {0}}
# A phase is not run when the one it builds on failed.
NEEDS = {"apply": "plan", "noop": "apply", "teardown": "apply"}


@dataclasses.dataclass
class Run:
    ms: float | None = None
    calls: collections.Counter | None = None
    error: str | None = None
    connections: int | None = None  # client connections the proxy accepted (keep-alive check)
    # Baseline only: process time the in-process clock leaves out (interpreter, imports,
    # client creation).
    overhead_ms: float | None = None


def aws_env(endpoint: str) -> dict:
    """The environment of every timed process: no developer AWS config can leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        NO_COLOR="1",
    )
    return env


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:160]
    return "(no output)"


class Bench:
    def __init__(self, args, moto: Moto, proxy: Proxy):
        self.args = args
        self.moto = moto
        self.proxy = proxy
        self.env = aws_env(proxy.url)
        self.baseline_env = dict(self.env, PYTHONPATH=SCRIPTS)

    def log(self, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def reseed(self, scenario: Scenario) -> None:
        self.moto.reset()
        seed(self.moto.url, scenario)

    def run_lakepass(self, phase: str, cwd: str) -> Run:
        self.proxy.reset_counts()
        start = time.perf_counter()
        try:
            out = subprocess.run([self.args.binary, *LAKEPASS_ARGS[phase]], cwd=cwd, env=self.env,
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 timeout=self.args.timeout)
        except subprocess.TimeoutExpired:
            return Run(calls=self.proxy.counts(), error=f"timed out after {self.args.timeout:g} s")
        ms = (time.perf_counter() - start) * 1000
        calls, connections = self.proxy.counts(), self.proxy.connections()
        if out.returncode not in SUCCESS[phase]:
            if phase == "noop" and out.returncode == 2:
                return Run(calls=calls, connections=connections, error="exit 2: the re-plan after apply found changes")
            return Run(calls=calls, connections=connections, error=f"exit {out.returncode}: {first_line(out.stderr)}")
        return Run(ms, calls, connections=connections)

    def run_baseline(self, phase: str, plan_path: str) -> Run:
        self.proxy.reset_counts()
        start = time.perf_counter()
        try:
            out = subprocess.run([sys.executable, "-m", "benchlib.baseline", phase, plan_path], env=self.baseline_env,
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 timeout=self.args.timeout)
        except subprocess.TimeoutExpired:
            return Run(calls=self.proxy.counts(), error=f"timed out after {self.args.timeout:g} s")
        wall = (time.perf_counter() - start) * 1000
        calls, connections = self.proxy.counts(), self.proxy.connections()
        if out.returncode != 0:
            return Run(calls=calls, connections=connections, error=first_line(out.stderr))
        ms = json.loads(out.stdout)["ms"]
        return Run(ms, calls, overhead_ms=wall - ms, connections=connections)

    def phases(self, label: str, run) -> dict:
        """Runs the four phases in order; a phase whose prerequisite failed is not run."""
        runs = {}
        for phase in PHASES:
            need = NEEDS.get(phase)
            if need and runs[need].error:
                runs[phase] = Run(error=f"not run: {need} failed")
                continue
            r = run(phase)
            runs[phase] = r
            calls = sum(r.calls.values()) if r.calls else 0
            result = f"FAILED {r.error}" if r.error else f"{r.ms:.0f} ms"
            self.log(f"  {label} {phase}: {result}, {calls} calls on {r.connections or 0} connection(s)")
        return runs

    def plan_json(self, scenario: Scenario, workdir: str) -> tuple[str | None, str | None]:
        """Seeds the catalog and asks lakepass for the from-nothing plan (straight to moto,
        untimed). Returns (path, None) or (None, why not)."""
        self.reseed(scenario)
        project = tempfile.mkdtemp(prefix=f"plan-{scenario.name}-", dir=workdir)
        write_config(project, scenario)
        try:
            out = subprocess.run([self.args.binary, "provision", "--plan", "--json"], cwd=project,
                                 env=aws_env(self.moto.url), stdin=subprocess.DEVNULL, capture_output=True,
                                 text=True, timeout=self.args.timeout)
        except subprocess.TimeoutExpired:
            return None, f"timed out after {self.args.timeout:g} s"
        if out.returncode not in (0, 2):
            return None, f"exit {out.returncode}: {first_line(out.stderr)}"
        path = os.path.join(workdir, f"plan-{scenario.name}.json")
        with open(path, "w") as f:
            f.write(out.stdout)
        return path, None

    def startup(self, runs: int) -> float | None:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            out = subprocess.run([self.args.binary, "--help"], stdin=subprocess.DEVNULL, capture_output=True,
                                 env=self.env)
            times.append((time.perf_counter() - start) * 1000)
            if out.returncode != 0:
                return None
        return statistics.median(times)


# -- the report --------------------------------------------------------------------------------


def median_ms(runs: list) -> float | None:
    ok = [r.ms for r in runs if r.error is None]
    return statistics.median(ok) if ok else None


def calls_of(runs: list) -> tuple[str, float | None]:
    """Total calls of the successful runs: one number when every round made the same calls,
    min-max otherwise; and the median, for the ratio."""
    totals = [sum(r.calls.values()) for r in runs if r.error is None and r.calls is not None]
    if not totals:
        return "", None
    lo, hi = min(totals), max(totals)
    return (str(lo) if lo == hi else f"{lo}–{hi}"), statistics.median(totals)


def cell_ms(runs: list) -> str:
    if not runs:
        return "–"
    failed = [r for r in runs if r.error]
    if len(failed) == len(runs):
        if failed[0].error.startswith("not run"):
            return failed[0].error
        return "failed: " + failed[0].error.replace("|", "\\|")
    text = f"{median_ms(runs):.0f}"
    if failed:
        text += f" ({len(failed)}/{len(runs)} failed: {failed[0].error.replace('|', '/')})"
    return text


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a is not None and b else "–"


def breakdown(runs: list) -> str:
    ok = [r for r in runs if r.error is None and r.calls is not None]
    if not ok:
        return "–"
    c = ok[0].calls
    return ", ".join(f"{a} {n}" for a, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def report(args, results: dict, notes: list, startup_ms: float | None, overhead: list) -> str:
    throttling = f"; throttling {args.throttle:g} of calls" if args.throttle else ""
    out = [
        f"lakepass benchmark, {datetime.date.today().isoformat()}: {args.binary}; {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}; median of {args.rounds} round(s){throttling}",
        "",
    ]
    if startup_ms is not None:
        out.append(f"`lakepass --help` start-up: {startup_ms:.1f} ms (median of {args.startup_runs} runs)")
    if overhead:
        out.append(f"Baseline process time its clock leaves out (Python start, boto3 import, clients): "
                   f"{statistics.median(overhead):.0f} ms (median)")
    out.append("")
    out.append("| scenario | latency | phase | lakepass (ms) | lakepass calls | baseline (ms) | baseline calls "
               "| time ratio | call ratio |")
    out.append("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (scenario, latency, phase), r in results.items():
        lp, bl = r["lakepass"], r["baseline"]
        lp_calls, lp_median_calls = calls_of(lp)
        bl_calls, bl_median_calls = calls_of(bl)
        bl_cell = cell_ms(bl) if bl else "skipped"
        out.append(f"| {scenario} | {latency:g} ms | {phase} | {cell_ms(lp)} | {lp_calls} | {bl_cell} | {bl_calls} "
                   f"| {ratio(median_ms(lp), median_ms(bl))} | {ratio(lp_median_calls, bl_median_calls)} |")
    if notes:
        out.append("")
        out.extend(f"- {n}" for n in notes)
    out.append("")
    out.append("Calls by action (first successful round at the first latency):")
    out.append("")
    seen = set()
    for (scenario, latency, phase), r in results.items():
        if (scenario, phase) in seen:
            continue
        seen.add((scenario, phase))
        if breakdown(r["lakepass"]) == breakdown(r["baseline"]) == "–":
            continue
        out.append(f"- {scenario} {phase}: lakepass: {breakdown(r['lakepass'])}; baseline: {breakdown(r['baseline'])}")
    return "\n".join(out) + "\n"


def to_json(results: dict) -> list:
    rows = []
    for (scenario, latency, phase), r in results.items():
        for tool, runs in r.items():
            for i, run in enumerate(runs):
                rows.append({"scenario": scenario, "latency_ms": latency, "phase": phase, "tool": tool, "round": i,
                             "ms": run.ms, "calls": dict(run.calls or {}), "connections": run.connections,
                             "error": run.error})
    return rows


def run_scenario(bench: Bench, scenario: Scenario, latencies: list, work: str, results: dict, notes: list,
                 overhead: list) -> None:
    """All latencies and rounds of one scenario. Each tool's round starts from a reset,
    freshly seeded emulator (seeding goes straight to moto, so the proxy's delay does not
    apply to it)."""
    args = bench.args
    bench.log(f"{scenario.name}: {scenario.describe()}")
    plan_path = None
    if not args.no_baseline:
        plan_path, why = bench.plan_json(scenario, work)
        if plan_path is None:
            notes.append(f"{scenario.name}: baseline skipped: lakepass could not produce the plan JSON it works "
                         f"from ({why})")
            bench.log(f"  no plan JSON ({why}): baseline skipped")
    for latency in latencies:
        bench.proxy.delay, bench.proxy.throttle = latency / 1000, args.throttle
        for phase in PHASES:
            results[(scenario.name, latency, phase)] = {"lakepass": [], "baseline": []}
        for n in range(args.rounds):
            label = f"[{scenario.name} {latency:g} ms {n + 1}/{args.rounds}]"
            bench.reseed(scenario)
            project = tempfile.mkdtemp(prefix=f"{scenario.name}-", dir=work)
            write_config(project, scenario)
            for phase, r in bench.phases(f"{label} lakepass", lambda ph: bench.run_lakepass(ph, project)).items():
                results[(scenario.name, latency, phase)]["lakepass"].append(r)
            if plan_path is None:
                continue
            bench.reseed(scenario)
            for phase, r in bench.phases(f"{label} baseline", lambda ph: bench.run_baseline(ph, plan_path)).items():
                results[(scenario.name, latency, phase)]["baseline"].append(r)
                if r.overhead_ms is not None:
                    overhead.append(r.overhead_ms)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("binary", help="the lakepass binary to time")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per scenario and latency (median; default 3)")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only this scenario (repeatable, or comma-separated)")
    ap.add_argument("--scenario", action="append", default=[], metavar="NAME=DBS[xTABLES]",
                    help="replace the scenarios (repeatable), e.g. db40=40 or tables5000=50x100;\n"
                         "default: " + ", ".join(f"{s.name} ({s.describe()})" for s in DEFAULT_SCENARIOS))
    ap.add_argument("--latencies", default="0,50", help="delays in ms the proxy adds to each call (default 0,50)")
    ap.add_argument("--throttle", type=float, default=0.0, metavar="FRACTION",
                    help="answer this fraction of timed calls with the service's throttling error")
    ap.add_argument("--startup-runs", type=int, default=20, help="runs of `lakepass --help` (default 20)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds before one run counts as failed (900)")
    ap.add_argument("--no-baseline", action="store_true", help="time lakepass only")
    ap.add_argument("--json", metavar="PATH", help="also write every run as JSON here")
    ap.add_argument("--moto", default=" ".join([os.path.join(ROOT, ".venv", "bin", "python"),
                                                  os.path.join(ROOT, "scripts", "moto_serial.py")]),
                    help="command starting the emulator (default: moto behind a lock, as the tests run it)")
    args = ap.parse_args(argv)
    args.binary = os.path.abspath(args.binary)
    latencies = [float(x) for x in args.latencies.split(",") if x.strip()]
    scenarios = [Scenario.parse(s) for s in args.scenario] or DEFAULT_SCENARIOS
    only = {n.strip() for o in args.only for n in o.split(",") if n.strip()}
    unknown = only - {s.name for s in scenarios}
    if unknown:
        ap.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; have {', '.join(s.name for s in scenarios)}")
    if only:
        scenarios = [s for s in scenarios if s.name in only]
    if args.rounds < 1 or not 0 <= args.throttle <= 1:
        ap.error("--rounds must be at least 1 and --throttle between 0 and 1")

    results: dict = {}
    notes: list = []
    overhead: list = []
    startup_ms = None
    with Moto(args.moto.split()) as moto, Proxy(moto.url) as proxy, \
            tempfile.TemporaryDirectory(prefix="lakepass-bench-") as work:
        bench = Bench(args, moto, proxy)
        bench.log(f"moto at {moto.url}, proxy at {proxy.url}")
        try:
            startup_ms = bench.startup(args.startup_runs) if args.startup_runs else None
            for scenario in scenarios:
                run_scenario(bench, scenario, latencies, work, results, notes, overhead)
        except KeyboardInterrupt:
            notes.append("interrupted: the table holds the rounds that finished")
        except Exception:
            bench.log("the benchmark stopped; the emulator's last log lines:\n" + moto.tail())
            raise
        text = report(args, results, notes, startup_ms, overhead)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"startup_ms": startup_ms, "notes": notes, "runs": to_json(results)}, f, indent=1)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
