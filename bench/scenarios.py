"""The scenarios: calibration, ingest, drain, end-to-end, fan-out, slow receiver, soak (and bench.fairness).

Each takes the running ``Stack``, the ``Run`` context and returns a dict
of figures; each is bounded by a count and by ``options.scenario_timeout``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from redis import Redis

from bench.analysis import ack_figures, backlog_figures, delivery_figures, endpoint_state, wait_until
from bench.load import LoadResult, get_many, post_callbacks
from bench.measure import Phase, ResourceMonitor
from bench.stack import Stack


@dataclass
class Run:
    stack: Stack
    monitor: ResourceMonitor
    redis: Redis
    options: object  # the parsed command line (bench.__main__)
    tag: str  # unique per run: every CheckoutRequestID carries it
    ingest_load: LoadResult | None = None  # what the ingest scenario sent: the drain scenario checks it

    def phase(self) -> Phase:
        self.stack.check_alive()
        for name, pids in self.stack.pids().items():
            self.monitor.set_group(name, pids)
        return Phase(self.monitor, self.redis)

    def throughput_workers(self) -> None:
        """The worker fleet of the throughput scenarios (--workers), with the settings as shipped."""
        self.stack.start_workers(self.options.workers, {})
        self.monitor.set_group("workers", [p.pid for p in self.stack.workers])

    def endpoint(self, user_id: str, receiver_path: str, *options: str) -> str:
        """A bench destination (30 s timeout; ``--cap`` as its max_in_flight when given); the merchant's
        inbound URL."""
        cap = ("--max-in-flight", str(self.options.cap)) if self.options.cap else ()
        return self.stack.add_endpoint(user_id, receiver_path, "--timeout", "30", *cap, *options)


def calibration(run: Run) -> dict:
    """The tools' own ceilings: generator -> receiver alone, and GET /health (the empty-view floor)."""
    options = run.options
    n = min(options.n, 10_000)
    with run.phase() as phase:
        load = asyncio.run(
            post_callbacks(
                [f"{run.stack.receiver_base}/calibrate/x"], n=n, concurrency=options.concurrency, tag="cal"
            )
        )
    receiver = {**ack_figures(load), "harness_cpu_seconds": phase.cpu.get("harness")}
    receiver["receiver_cpu_seconds"] = phase.cpu.get("receiver")
    with run.phase() as phase:
        floor = asyncio.run(
            get_many(f"{run.stack.web_base}/health", n=min(options.n, 5000), concurrency=options.concurrency)
        )
    return {
        "generator_to_receiver": receiver,
        "health_view_floor": {**ack_figures(floor), "web_cpu_seconds": phase.cpu.get("web")},
    }


def ingest(run: Run) -> dict:
    """N callbacks over C keep-alive connections with no worker running."""
    run.stack.stop_workers()
    run.monitor.set_group("workers", [])
    options = run.options
    url = run.endpoint("bench-ingest", "/ingest/hook")
    with run.phase() as phase:
        load = asyncio.run(
            post_callbacks(
                [url],
                n=options.n,
                concurrency=options.concurrency,
                tag=f"{run.tag}i",
                deadline_seconds=options.scenario_timeout,
            )
        )
    figures = ack_figures(load)
    state = endpoint_state("bench-ingest")
    run.ingest_load = load
    return {
        **figures,
        "stored_in_db": state["callbacks"],
        "web_cpu_ms_per_callback": _per(phase.cpu.get("web", 0) * 1000, load.acked),
        "redis_commands_per_callback": _per(phase.redis_commands, load.acked),
        "resources": phase.summary(),
    }


def drain(run: Run) -> dict:
    """Start the workers on the ingest backlog: deliveries/s from a full queue, nothing lost or doubled."""
    load = run.ingest_load
    run.throughput_workers()
    with run.phase() as phase:
        complete = wait_until(
            lambda: run.stack.receiver_count("/ingest/") >= load.acked, timeout=run.options.scenario_timeout
        )
        records = run.stack.receiver_records("/ingest/")
    figures = {**backlog_figures(records), **_lost(records, load)}
    figures["complete"] = complete
    figures["worker_cpu_ms_per_delivery"] = _per(phase.cpu.get("workers", 0) * 1000, len(records))
    figures["redis_commands_per_delivery"] = _per(phase.redis_commands, len(records))
    figures["resources"] = phase.summary()
    return figures


def end_to_end(run: Run) -> dict:
    """The same burst with the workers running, until the receiver has every acknowledged callback."""
    options = run.options
    run.throughput_workers()
    url = run.endpoint("bench-e2e", "/e2e/hook")
    with run.phase() as phase:
        load, complete, records = _burst_until_received(run, url, "/e2e/", n=options.n, tag=f"{run.tag}e")
    # The attempt row is written just after the receiver answers: give the last ones a moment.
    wait_until(
        lambda: endpoint_state("bench-e2e")["deliveries"].get("delivered", 0) >= load.acked, timeout=30
    )
    state = endpoint_state("bench-e2e")
    return {
        "ingest_while_delivering": ack_figures(load),
        **delivery_figures(records, load),
        "complete": complete,
        "receiver_requests": len(records),
        "attempt_rows": state["attempts"],
        "every_attempt_recorded": state["attempts"] == len(records),
        "db_deliveries": state["deliveries"],
        "resources": phase.summary(),
    }


FAN_OUT_DESTINATIONS = (  # (name, kinds): every one takes the STK results the load sends
    ("main", "all"),
    ("erp", "stk_callback,c2b_confirmation"),
    ("warehouse", "all"),
)


def fan_out(run: Run) -> dict:
    """The end-to-end burst to a merchant with three destinations: each callback is kept once and
    delivered three times (each destination its own secret, lease and cap)."""
    options = run.options
    run.throughput_workers()
    url = ""
    for name, kinds in FAN_OUT_DESTINATIONS:
        url = run.endpoint("bench-fan", f"/fan/{name}/hook", "--destination", name, "--kinds", kinds)
    copies = len(FAN_OUT_DESTINATIONS)
    with run.phase() as phase:
        load, complete, records = _burst_until_received(
            run, url, "/fan/", n=options.n, tag=f"{run.tag}f", copies=copies
        )
    per_destination = {
        name: delivery_figures([r for r in records if r[1].startswith(f"/fan/{name}/")], load)
        for name, _ in FAN_OUT_DESTINATIONS
    }
    span = max((figures["seconds"] for figures in per_destination.values()), default=0)
    return {
        "destinations": copies,
        "ingest_while_delivering": ack_figures(load),
        "deliveries": len(records),
        "deliveries_per_second": round(len(records) / span, 1) if span else 0.0,
        "callbacks_delivered_everywhere_per_second": round(load.acked / span, 1) if span else 0.0,
        "lost": sum(figures["lost"] for figures in per_destination.values()),
        "duplicates": sum(figures["duplicates"] for figures in per_destination.values()),
        "per_destination": per_destination,
        "complete": complete,
        "worker_cpu_ms_per_delivery": _per(phase.cpu.get("workers", 0) * 1000, len(records)),
        "web_cpu_ms_per_callback": _per(phase.cpu.get("web", 0) * 1000, load.acked),
        "resources": phase.summary(),
    }


def slow_receiver(run: Run) -> dict:
    """``--slow-n`` callbacks to a receiver that answers after ``--slow-delay-ms``."""
    options = run.options
    run.throughput_workers()
    run.stack.configure_receiver(delay_ms=options.slow_delay_ms, delay_prefix="/slow/")
    url = run.endpoint("bench-slow", "/slow/hook")
    with run.phase() as phase:
        load, complete, records = _burst_until_received(
            run, url, "/slow/", n=options.slow_n, tag=f"{run.tag}s"
        )
    run.stack.configure_receiver()
    memory = phase.memory
    return {
        "receiver_delay_ms": options.slow_delay_ms,
        "ingest": ack_figures(load),
        **delivery_figures(records, load),
        "complete": complete,
        "web_plus_workers_peak_rss_mb": round(
            memory.get("web", {}).get("rss_mb", 0) + memory.get("workers", {}).get("rss_mb", 0), 1
        ),
        "resources": phase.summary(),
    }


def soak(run: Run) -> dict:
    """``--soak-n`` callbacks at ``--soak-rate``/s with workers delivering; memory over time (flat = pass)."""
    options = run.options
    run.throughput_workers()
    url = run.endpoint("bench-soak", "/soak/hook")
    timeout = options.soak_n / options.soak_rate + options.scenario_timeout
    with run.phase() as phase:
        load, complete, records = _burst_until_received(
            run, url, "/soak/", n=options.soak_n, tag=f"{run.tag}k", rate=options.soak_rate, timeout=timeout
        )
    run.monitor.sample()
    sends = sorted(load.sent_at.values())
    timeline = []
    for fraction in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        index = max(0, int(len(sends) * fraction) - 1)
        at = sends[index] if sends else phase.ended
        timeline.append({"callbacks": index + 1, **_memory_at(run.monitor, at)})
    final = {"callbacks": len(sends), **_memory_at(run.monitor, phase.ended)}
    first = timeline[0]
    growth = (final["total_rss_mb"] / first["total_rss_mb"] - 1) if first["total_rss_mb"] else None
    return {
        "rate_requested": options.soak_rate,
        "ingest": ack_figures(load),
        **delivery_figures(records, load),
        "complete": complete,
        "memory_timeline": timeline,
        "memory_after_all_delivered": final,
        "rss_growth_vs_first_tenth": round(growth, 3) if growth is not None else None,
        "flat": growth is not None and growth <= 0.10,
        "resources": phase.summary(),
    }


def _burst_until_received(
    run: Run,
    url: str,
    prefix: str,
    *,
    n: int,
    tag: str,
    rate: float | None = None,
    timeout: float | None = None,
    copies: int = 1,
) -> tuple[LoadResult, bool, list[list]]:
    """Send ``n`` callbacks (at ``rate``/s, or as fast as the connections allow), then wait until the
    receiver has ``copies`` requests under ``prefix`` per acknowledged callback (one per destination).
    Returns the load, whether it completed in time, and the receiver's records."""
    timeout = timeout or run.options.scenario_timeout
    load = asyncio.run(
        post_callbacks(
            [url], n=n, concurrency=run.options.concurrency, tag=tag, rate=rate, deadline_seconds=timeout
        )
    )
    complete = wait_until(lambda: run.stack.receiver_count(prefix) >= copies * load.acked, timeout=timeout)
    return load, complete, run.stack.receiver_records(prefix)


def _memory_at(monitor: ResourceMonitor, at: float) -> dict:
    nearest = min(monitor.samples, key=lambda s: abs(s.at - at))
    web = nearest.rss.get("web", 0) / 2**20
    workers = nearest.rss.get("workers", 0) / 2**20
    return {
        "web_rss_mb": round(web, 1),
        "workers_rss_mb": round(workers, 1),
        "total_rss_mb": round(web + workers, 1),
    }


def _lost(records: list[list], load: LoadResult) -> dict:
    arrived = {r[3] for r in records}
    return {"expected": load.acked, "lost": sum(1 for c in load.sent_at if c not in arrived)}


def _per(total: float, count: int) -> float | None:
    return round(total / count, 2) if count else None
