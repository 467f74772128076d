"""``python -m bench [options]`` (``make bench BENCH_ARGS="..."``): run the benchmark, print and keep figures.

Progress goes to stderr; stdout gets a table and one JSON line, which is
also appended to ``--results`` (bench/results.jsonl, not committed).
Exit status 0 when every scenario ran (whether or not targets were met),
1 when one failed to run.

``--scenarios versus-node`` (bench.versus_node; run alone, not in the
default list) runs the Node/BullMQ service the relay is measured against, from
``--node-harness`` (../shared/bench, copied first; its run-seed.sh) and then
the relay as shipped through the same measure.sh, with the same --n (default
10,000 here), --concurrency, --slow-n and --slow-delay-ms, and prints
relay/Node ratios against issue 13's targets. It needs node, npm (npm ci)
and redis-server; DATABASE_URL=postgres://... as for the other scenarios.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis

from bench import report, versus_node
from bench.fairness import fairness
from bench.measure import ResourceMonitor, load_average, postgres_backends
from bench.scenarios import Run, calibration, drain, end_to_end, fan_out, ingest, slow_receiver, soak
from bench.stack import Stack, WebSettings
from bench.versus_node import DEFAULT_HARNESS
from bench.versus_node import NAME as VERSUS_NODE

SCENARIOS = {
    "calibration": calibration,
    "ingest": ingest,
    "drain": drain,
    "e2e": end_to_end,
    "fan-out": fan_out,
    "slow": slow_receiver,
    "soak": soak,
    "fairness": fairness,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.splitlines()[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--n",
        type=int,
        default=None,
        help=f"callbacks per burst (ingest, end-to-end; default 20,000, or 10,000 in {VERSUS_NODE})",
    )
    add("--concurrency", "-c", type=int, default=32, help="keep-alive connections of the load generator")
    add("--workers", type=int, default=2, help="RQ worker processes for the throughput scenarios")
    add("--web-workers", type=int, default=2, help="gunicorn worker processes (gthread)")
    add("--web-threads", type=int, default=8, help="threads per gunicorn worker")
    add(
        "--cap",
        type=int,
        default=None,
        help="the bench endpoints' max_in_flight (default: as shipped, DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT)",
    )
    add("--slow-n", type=int, default=2000, help="callbacks of the slow-receiver scenario")
    add("--slow-delay-ms", type=int, default=100, help="the slow receiver's answer delay")
    add("--soak-n", type=int, default=100_000, help="callbacks of the soak")
    add("--soak-rate", type=float, default=50.0, help="callbacks/s in the soak (below delivery capacity)")
    add("--skip-soak", action="store_true", help="leave the soak out")
    add("--fairness-n", type=int, default=1000, help="callbacks of each fairness round")
    add("--fairness-workers", type=int, default=2, help="worker processes in the fairness scenario")
    add("--hang-seconds", type=float, default=30.0, help="how long the hanging receiver hangs")
    add("--hang-timeout", type=float, default=None, help="the hanging endpoint's timeout (default 30)")
    add("--circuit-cooldown", type=float, default=10.0, help="CIRCUIT_COOLDOWN_SECONDS in fairness")
    add("--no-fairness-recovery", dest="fairness_recovery", action="store_false")
    add("--scenario-timeout", type=float, default=600.0, help="seconds any one wait may take")
    add(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma list, in the order above; or {VERSUS_NODE} alone (the Node stack and the relay as"
        " shipped through ../shared/bench's measure.sh, relay/Node ratios; bench/versus_node.py)",
    )
    add("--node-harness", default=str(DEFAULT_HARNESS), help=f"the shared Node harness ({VERSUS_NODE})")
    add("--results", default=str(Path(__file__).with_name("results.jsonl")), help="JSON lines file")
    add("--note", default="", help="free text kept with the results")
    add("--keep-logs", action="store_true", help="keep the temp dir with every process's log")
    options = parser.parse_args(argv)
    options.selected = [s for s in options.scenarios.split(",") if s]
    if VERSUS_NODE in options.selected:
        if options.selected != [VERSUS_NODE]:
            parser.error(
                f"{VERSUS_NODE} runs its own stacks with the relay's settings as shipped: select it alone"
            )
        options.n = options.n or versus_node.DEFAULT_N
        return options
    options.n = options.n or 20_000
    unknown = set(options.selected) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if options.skip_soak and "soak" in options.selected:
        options.selected.remove("soak")
    if "drain" in options.selected and "ingest" not in options.selected:
        parser.error("drain delivers the ingest scenario's backlog: select ingest too")
    return options


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S', time.gmtime())}] {message}", file=sys.stderr, flush=True)


def _run_header(options: argparse.Namespace) -> dict:
    """What every result line starts with: when, on what machine and commit, how loaded."""
    return {
        "bench": "daraja-relay",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "note": options.note,
        "machine": report.machine(),
        "git": report.git_state(),
        "load_average_start": load_average(),
        "scenarios": {},
    }


def _finish(result: dict, options: argparse.Namespace, started: float, failed: bool, table=None) -> int:
    """Close the run's result: load and duration, the table if any, one JSON line printed and
    appended; returns the exit code."""
    result["load_average_end"] = load_average()
    result["duration_seconds"] = round(time.monotonic() - started, 1)
    if table is not None:
        print(table(result))
    line = json.dumps(result, separators=(",", ":"), default=str)
    print(line)
    with open(options.results, "a") as results:
        results.write(line + "\n")
    progress(f"appended to {options.results}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    # SIGTERM unwinds like Ctrl-C, through the ``finally`` that stops every process and drops the database.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if options.selected == [VERSUS_NODE]:
        return main_versus_node(options)
    started = time.monotonic()
    result = _run_header(options)
    stack = Stack(
        web=WebSettings(options.web_workers, options.web_threads),
        database_url=os.environ.get("DATABASE_URL"),
        keep_logs=options.keep_logs,
    )
    result["settings"] = report.settings(options, stack)
    monitor = ResourceMonitor()
    failed = False
    try:
        progress(f"starting the stack ({stack.database.engine}, logs in {stack.dir})")
        stack.start()
        monitor.groups.update(stack.pids())
        if stack.database.engine == "postgres":
            database = stack.database.name
            monitor.discover["postgres"] = lambda: postgres_backends(database)
        monitor.start()
        run = Run(stack, monitor, Redis.from_url(stack.redis_url), options, secrets.token_hex(3))
        for name in options.selected:
            progress(f"scenario {name}")
            try:
                result["scenarios"][name] = SCENARIOS[name](run)
            except Exception as exc:
                failed = True
                traceback.print_exc()
                result["scenarios"][name] = {"error": f"{type(exc).__name__}: {exc}"}
                break
            progress(f"scenario {name} done")
    except Exception as exc:
        failed = True
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        monitor.stop()
        progress("stopping the stack")
        stack.stop()
    result["targets"] = report.targets(result["scenarios"])
    return _finish(result, options, started, failed, table=report.table)


def main_versus_node(options: argparse.Namespace) -> int:
    """The versus-node scenario alone: its table, then one JSON line like the other runs'."""
    started = time.monotonic()
    result = _run_header(options)
    result["settings"] = {"scenarios": options.selected}
    failed = False
    progress(f"scenario {VERSUS_NODE}")
    try:
        figures = versus_node.versus_node(options)
        result["settings"].update(figures.pop("config"))
        result["scenarios"][VERSUS_NODE] = figures
        result["targets"] = figures["targets"]
        print(versus_node.table(figures))
        progress(f"scenario {VERSUS_NODE} done")
    except Exception as exc:
        failed = True
        traceback.print_exc()
        result["scenarios"][VERSUS_NODE] = {"error": f"{type(exc).__name__}: {exc}"}
        result["targets"] = {}
        print(f"{VERSUS_NODE}: ERROR {type(exc).__name__}: {exc}")
    return _finish(result, options, started, failed)


if __name__ == "__main__":
    sys.exit(main())
