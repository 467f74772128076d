"""Measuring: percentiles, process resources (psutil), load averages, Redis command counts."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil
from redis import Redis


def percentiles(values: list[float], scale: float = 1000.0) -> dict[str, float | None]:
    """p50/p95/p99/max (nearest rank) of ``values`` times ``scale`` (seconds -> ms by default)."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))] * scale, 1)

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": round(ordered[-1] * scale, 1)}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def redis_command_count(client: Redis) -> int:
    """Commands the Redis server has executed since it started (INFO commandstats)."""
    return sum(stats["calls"] for stats in client.info("commandstats").values())


def _tree(pid: int) -> list[psutil.Process]:
    """The process and its descendants; the harness alone (every other group is its child)."""
    try:
        root = psutil.Process(pid)
        if pid == os.getpid():
            return [root]
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@dataclass
class Sample:
    at: float
    rss: dict[str, int]  # group -> bytes
    pss: dict[str, int]


class ResourceMonitor:
    """Samples the resident memory of process groups (each a root pid and its descendants) in a thread.

    ``groups`` maps a name (``web``, ``workers``, ...) to root pids and may be
    changed while sampling (workers are restarted between scenarios). RSS
    counts pages shared by forked processes once per process (as ``ps``
    does); PSS shares them out, so its sum is what the group really holds.
    """

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.groups: dict[str, list[int]] = {}
        # Groups found afresh at every sample (Postgres backends come and go with connections).
        self.discover: dict[str, Callable[[], list[int]]] = {}
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resource-monitor", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():  # a run that failed before sampling began stops it too
            self._thread.join(5)

    def set_group(self, name: str, pids: list[int]) -> None:
        with self._lock:
            self.groups[name] = list(pids)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def _groups(self) -> dict[str, list[int]]:
        with self._lock:
            groups = dict(self.groups)
        for name, find in self.discover.items():
            groups[name] = find()
        return groups

    def sample(self) -> Sample:
        groups = self._groups()
        rss, pss = {}, {}
        for name, pids in groups.items():
            rss[name] = pss[name] = 0
            for pid in pids:
                for process in _tree(pid):
                    try:
                        memory = process.memory_full_info()
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        continue
                    rss[name] += memory.rss
                    pss[name] += getattr(memory, "pss", memory.rss)
        sample = Sample(time.monotonic(), rss, pss)
        with self._lock:
            self.samples.append(sample)
        return sample

    def cpu_seconds(self) -> dict[str, dict[int, float]]:
        """Per group, per live pid: user + system CPU seconds so far."""
        groups = self._groups()
        snapshot: dict[str, dict[int, float]] = {}
        for name, pids in groups.items():
            snapshot[name] = {}
            for pid in pids:
                for process in _tree(pid):
                    try:
                        times = process.cpu_times()
                    except psutil.NoSuchProcess:
                        continue
                    snapshot[name][process.pid] = times.user + times.system
        return snapshot

    def peaks(self, since: float, until: float) -> dict[str, dict[str, float]]:
        """Peak RSS and PSS (MB) per group over the samples taken in [since, until]."""
        with self._lock:
            window = [s for s in self.samples if since <= s.at <= until]
        peaks: dict[str, dict[str, float]] = {}
        for sample in window:
            for name, value in sample.rss.items():
                entry = peaks.setdefault(name, {"rss_mb": 0.0, "pss_mb": 0.0})
                entry["rss_mb"] = max(entry["rss_mb"], round(value / 2**20, 1))
                entry["pss_mb"] = max(entry["pss_mb"], round(sample.pss[name] / 2**20, 1))
        return peaks


def postgres_backends(database: str) -> list[int]:
    """Pids of the Postgres server processes serving ``database`` (their title names it)."""
    pids = []
    for process in psutil.process_iter(["cmdline"]):
        title = " ".join(process.info["cmdline"] or [])
        if title.startswith("postgres:") and f" {database} " in title:
            pids.append(process.pid)
    return pids


def cpu_delta(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds each group used between two ``cpu_seconds()`` snapshots (new processes from zero)."""
    return {
        name: round(sum(t - before.get(name, {}).get(pid, 0.0) for pid, t in pids.items()), 2)
        for name, pids in after.items()
    }


class Phase:
    """Times a scenario and collects its load averages, CPU seconds, peak memory and Redis commands."""

    def __init__(self, monitor: ResourceMonitor, redis: Redis) -> None:
        self.monitor = monitor
        self.redis = redis

    def __enter__(self) -> Phase:
        self.load_before = load_average()
        self.cpu_before = self.monitor.cpu_seconds()
        self.redis_before = redis_command_count(self.redis)
        self.started = time.monotonic()
        self.monitor.sample()
        return self

    def __exit__(self, *exc) -> None:
        self.monitor.sample()
        self.ended = time.monotonic()
        self.cpu = cpu_delta(self.cpu_before, self.monitor.cpu_seconds())
        self.redis_commands = redis_command_count(self.redis) - self.redis_before
        self.load_after = load_average()
        self.memory = self.monitor.peaks(self.started, self.ended)

    def summary(self) -> dict:
        return {
            "wall_seconds": round(self.ended - self.started, 2),
            "cpu_seconds": self.cpu,
            "peak_memory_mb": self.memory,
            "redis_commands": self.redis_commands,
            "load_average_before": self.load_before,
            "load_average_after": self.load_after,
        }
