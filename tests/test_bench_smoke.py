"""The benchmark harness (``make bench``) runs every scenario end to end at a tiny size.

CI cannot measure performance on a shared machine; this proves the
harness works: it starts its stack, every scenario completes with the
counts it reports checked against what was sent, and it writes its JSON
line. The figures themselves are not asserted (docs/performance.md has them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

TINY = [
    *("--n", "50", "--concurrency", "4", "--workers", "1", "--web-workers", "1", "--web-threads", "4"),
    *("--slow-n", "20", "--soak-n", "40", "--soak-rate", "100"),
    *("--fairness-n", "50", "--fairness-workers", "1"),
    *("--hang-seconds", "2", "--hang-timeout", "0.5", "--circuit-cooldown", "0.5"),
    *("--scenario-timeout", "60"),
]


# The versus-node scenario (bench/versus_node.py) is not run here: it copies ../shared/bench, runs
# `npm ci` against the npm registry and starts the Node/BullMQ stack, none of which CI has or should
# depend on. Its arithmetic (figures, ratios, targets, table) is checked below on measure.sh summaries.


def test_the_harness_runs_every_scenario_and_records_one_json_line(tmp_path):
    # given a results file of the test's own
    results = tmp_path / "results.jsonl"

    # when the harness runs every scenario at a tiny size
    harness = subprocess.Popen(
        [sys.executable, "-m", "bench", *TINY, "--results", str(results), "--note", "smoke"],
        cwd=REPO,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = harness.communicate(timeout=170)
    except subprocess.TimeoutExpired:
        harness.terminate()  # the harness stops its processes and drops its database on SIGTERM
        stdout, stderr = harness.communicate(timeout=60)
        pytest.fail(f"the harness did not finish within 170 s:\n{stderr[-3000:]}")

    # then it succeeded, printed a table and one JSON line, and appended that line to the results file
    assert harness.returncode == 0, stderr[-3000:]
    lines = stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert results.read_text().splitlines() == [lines[-1]]
    assert "deliveries/s" in stdout
    scenarios = report["scenarios"]
    assert list(scenarios) == ["calibration", "ingest", "drain", "e2e", "fan-out", "slow", "soak", "fairness"]
    assert not [name for name, figures in scenarios.items() if "error" in figures]

    # and every count adds up: all acknowledged, stored, delivered once, nothing lost
    assert scenarios["calibration"]["generator_to_receiver"]["acked"] == 50
    ingest = scenarios["ingest"]
    assert (ingest["acked"], ingest["stored_in_db"], ingest["errors"]) == (50, 50, 0)
    assert ingest["acks_per_second"] > 0 and ingest["ack_latency_ms"]["p99"] is not None
    drain = scenarios["drain"]
    assert (drain["complete"], drain["delivered"], drain["lost"], drain["duplicates"]) == (True, 50, 0, 0)
    e2e = scenarios["e2e"]
    assert (e2e["complete"], e2e["delivered"], e2e["lost"], e2e["duplicates"]) == (True, 50, 0, 0)
    assert e2e["every_attempt_recorded"] and e2e["db_deliveries"] == {"delivered": 50}
    assert e2e["resources"]["peak_memory_mb"]["web"]["rss_mb"] > 0
    assert e2e["resources"]["peak_memory_mb"]["workers"]["rss_mb"] > 0
    assert e2e["resources"]["cpu_seconds"]["workers"] > 0
    fan_out = scenarios["fan-out"]
    assert (fan_out["complete"], fan_out["deliveries"], fan_out["lost"], fan_out["duplicates"]) == (
        True,
        150,
        0,
        0,
    )
    assert {name: figures["delivered"] for name, figures in fan_out["per_destination"].items()} == {
        "main": 50,
        "erp": 50,
        "warehouse": 50,
    }
    slow = scenarios["slow"]
    assert (slow["complete"], slow["delivered"], slow["lost"]) == (True, 20, 0)
    soak = scenarios["soak"]
    assert (soak["complete"], soak["delivered"], soak["lost"]) == (True, 40, 0)
    assert len(soak["memory_timeline"]) == 10 and soak["rss_growth_vs_first_tenth"] is not None

    # and in the fairness scenario the healthy endpoints got everything, the hanging one lost nothing
    fairness = scenarios["fairness"]
    for round_name in ("baseline", "one_hanging"):
        healthy = fairness[round_name]["healthy"]
        assert (healthy["complete"], healthy["expected"], healthy["lost"]) == (True, 45, 0)
    hanging = fairness["one_hanging"]["hanging_endpoint"]
    assert hanging["settled"] and hanging["circuit"] == "open"
    assert hanging["callbacks_in_db"] == hanging["acked"] == 5
    assert hanging["recovery"]["complete"] and hanging["recovery"]["lost"] == 0
    assert fairness["hanging_none_lost"] is True
    assert set(report["targets"]) >= {"ingest_acks_per_second", "e2e_deliveries_per_second"}


def _measure_summary(*, rps, p99, e2e, slow, server_mb, worker_mb):
    """A summary line as ../shared/bench/measure.sh prints it (the fields versus-node reads)."""
    return {
        "ingest": {"n": 100, "ok": 100, "errors": {}, "rps": rps, "ack_ms": {"p99": p99}},
        "e2e": {"delivered": 100, "complete": True, "duplicates": 0, "per_s": e2e},
        "slow": {"n": 20, "delivered": 20, "complete": True, "per_s": slow},
        "procs": {"server": {"peak_rss_mb": server_mb}, "worker": {"peak_rss_mb": worker_mb}},
    }


def test_versus_node_compares_the_relay_with_the_node_stack_figure_by_figure():
    from bench import versus_node

    # given measure.sh's summaries of both systems, and the relay's ack rate from its phase file
    node = {"summary": _measure_summary(rps=2000, p99=40, e2e=1000, slow=50, server_mb=90, worker_mb=150)}
    relay = {
        "summary": _measure_summary(rps=900, p99=80, e2e=400, slow=250, server_mb=120, worker_mb=150),
        "phases": {"ingest": {"ok_per_s": 800}, "e2e": {"count": 100}, "slow_e2e": {"count": 20}},
        "db": {"attempts": 120, "deliveries": {"delivered": 120}},
    }

    # when the figures are compared
    relay_figures, node_figures = versus_node.figures(relay), versus_node.figures(node)
    ratios, targets = versus_node.compare(relay_figures, node_figures)

    # then acks are 2xx answers per second, RSS is web + workers, and each ratio is relay / node
    assert relay_figures["ingest_acks_per_second"] == 800 and node_figures["ingest_acks_per_second"] == 2000
    assert relay_figures["web_plus_workers_peak_rss_mb"] == 270
    assert ratios["ingest_acks_per_second"] == 0.4 and ratios["slow_deliveries_per_second"] == 5
    # and the targets hold on the ratios (ingest, e2e, slow) or on the relay's value (p99, RSS)
    assert {name: check["met"] for name, check in targets.items()} == {
        "versus_node_ingest_acks_per_second": True,
        "versus_node_ack_p99_ms": True,
        "versus_node_e2e_deliveries_per_second": True,
        "versus_node_slow_deliveries_per_second": True,
        "versus_node_web_plus_workers_peak_rss_mb": True,
    }
    checks = versus_node.correctness(relay, 100, 20)
    assert (checks["lost"], checks["duplicates"], checks["one_attempt_row_per_request"]) == (0, 0, True)
    result = {
        "relay": relay_figures,
        "node": node_figures,
        "ratios": ratios,
        "targets": targets,
        "relay_checks": checks,
        "relay_extra": {},
    }
    cells = {}
    for line in versus_node.table(result).splitlines():
        label, *rest = (cell.strip() for cell in line.split("|"))
        cells[label] = rest
    assert cells["end to end deliveries/s"] == ["400", "1000", "0.40x", ">= 0.33x met"]
