"""Issue 6's fairness scenario: one merchant's server hangs; do the nine others keep flowing?

Ten endpoints, ``--fairness-workers`` worker processes (2, each sending up
to ``DELIVERY_WORKER_CONCURRENCY`` deliveries at once on its event loop)
with the relay's default per-endpoint ``max_in_flight``,
``--fairness-n`` callbacks (1,000) spread evenly. Round one: nobody hangs
(the baseline). Round two: endpoint 0's receiver hangs ``--hang-seconds``
(30) per request while the nine others answer at once. Each round
queues its callbacks with no worker running, then starts the workers:
delivery throughput is then the workers' own, not capped by how fast
the web process acknowledges on a 2-core machine (rate and latency count
from the round's first arrival).
Reported: the nine healthy endpoints' deliveries/s and p99 in both
rounds, and what became of endpoint 0's callbacks: the
database is polled until its circuit is open and every one of its
deliveries is delivered or held (at most one, the circuit's probe, in
flight). Then, unless ``--no-fairness-recovery``, its server "recovers"
and every held delivery must reach the receiver: none lost.
"""

from __future__ import annotations

import asyncio
import math
import time

from bench.analysis import ack_figures, delivery_figures, endpoint_state, wait_until
from bench.load import post_callbacks
from bench.scenarios import Run

ENDPOINTS = 10
HANGING = 0
HEALTHY = set(range(1, ENDPOINTS))
RELAY_DEFAULT_THRESHOLD = 5
RELAY_DEFAULT_CAP = 32  # DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT as shipped
RELAY_DEFAULT_TIMEOUT = 30.0


def fairness(run: Run) -> dict:
    options = run.options
    baseline = _round(run, "fb", hang=False)
    fault = _round(run, "fh", hang=True)
    base_rate = baseline["healthy"]["deliveries_per_second"]
    ratio = fault["healthy"]["deliveries_per_second"] / base_rate if base_rate else None
    hanging = fault["hanging_endpoint"]
    return {
        "settings": {
            "endpoints": ENDPOINTS,
            "worker_processes": options.fairness_workers,
            "max_in_flight_per_endpoint": RELAY_DEFAULT_CAP,
            "circuit_failure_threshold": RELAY_DEFAULT_THRESHOLD,
            "circuit_cooldown_seconds": options.circuit_cooldown,
            "hang_seconds": options.hang_seconds,
            "hanging_endpoint_timeout_seconds": _hang_timeout(options),
        },
        "baseline": baseline,
        "one_hanging": fault,
        "healthy_throughput_ratio": round(ratio, 3) if ratio is not None else None,
        "healthy_keep_80_percent": ratio is not None and ratio >= 0.8,
        "hanging_none_lost": hanging["none_lost"],
    }


def _hang_timeout(options) -> float:
    return options.hang_timeout if options.hang_timeout is not None else RELAY_DEFAULT_TIMEOUT


def _round(run: Run, label: str, *, hang: bool) -> dict:
    options, stack = run.options, run.stack
    user_ids = [f"bench-{label}{k:02d}" for k in range(ENDPOINTS)]
    urls = []
    for k, user_id in enumerate(user_ids):
        timeout = _hang_timeout(options) if k == HANGING else RELAY_DEFAULT_TIMEOUT
        urls.append(stack.add_endpoint(user_id, f"/{label}/e{k:02d}/hook", "--timeout", str(timeout)))
    if hang:
        stack.configure_receiver(hang_seconds=options.hang_seconds, hang_prefix=f"/{label}/e{HANGING:02d}/")
    healthy_prefixes = [f"/{label}/e{k:02d}/" for k in sorted(HEALTHY)]
    stack.stop_workers()
    run.monitor.set_group("workers", [])
    with run.phase() as phase:
        load = asyncio.run(
            post_callbacks(
                urls,
                n=options.fairness_n,
                concurrency=options.concurrency,
                tag=f"{run.tag}{label}",
                deadline_seconds=options.scenario_timeout,
            )
        )
        _start_workers(run)
        healthy_acked = sum(1 for target in load.target_of.values() if target in HEALTHY)
        complete = wait_until(
            lambda: sum(stack.receiver_count(p) for p in healthy_prefixes) >= healthy_acked,
            timeout=options.scenario_timeout,
        )
        records = stack.receiver_records(f"/{label}/")
    first_arrival = records[0][0] if records else None
    result = {
        "ingest": ack_figures(load),
        "healthy": {**delivery_figures(records, load, HEALTHY, origin=first_arrival), "complete": complete},
        "resources": phase.summary(),
    }
    if hang:
        result["hanging_endpoint"] = _hanging_outcome(run, label, user_ids[HANGING], load)
    else:
        result["endpoint_0"] = delivery_figures(records, load, {HANGING}, origin=first_arrival)
    return result


def _start_workers(run: Run) -> None:
    env = {}
    if run.options.circuit_cooldown is not None:
        env["CIRCUIT_COOLDOWN_SECONDS"] = str(run.options.circuit_cooldown)
    run.stack.start_workers(run.options.fairness_workers, env)
    run.monitor.set_group("workers", [p.pid for p in run.stack.workers])


def _hanging_outcome(run: Run, label: str, user_id: str, load) -> dict:
    """Wait until the hanging endpoint's deliveries are all delivered or held; then, optionally, recover."""
    options = run.options
    acked = sum(1 for target in load.target_of.values() if target == HANGING)
    timeout = _hang_timeout(options)
    attempt_seconds = min(timeout, options.hang_seconds) + 2
    # Rounds of cap-many attempts until the threshold's failures, then the in-flight ones and retries.
    settle_budget = (math.ceil(RELAY_DEFAULT_THRESHOLD / RELAY_DEFAULT_CAP) + 3) * attempt_seconds + 60
    started = time.monotonic()
    observed: dict = {}

    def settled() -> bool:
        state = endpoint_state(user_id)
        observed.update(state)
        statuses = state["deliveries"]
        accounted = sum(statuses.get(s, 0) for s in ("delivered", "held", "dead", "delivering"))
        in_flight = statuses.get("delivering", 0)
        # Settled: the circuit is open with at most its probe out, or (a hang shorter than the
        # timeout) nothing is in flight any more; either way every callback is accounted for.
        return accounted == acked and (in_flight == 0 or (state["circuit"] == "open" and in_flight <= 1))

    # Attempts that began before the circuit opened end within one attempt's time: wait that out too.
    is_settled = wait_until(settled, timeout=settle_budget, interval=1.0)
    if is_settled:
        time.sleep(attempt_seconds)
        is_settled = wait_until(settled, timeout=settle_budget, interval=1.0)
    statuses = observed.get("deliveries", {})
    outcome = {
        "acked": acked,
        "callbacks_in_db": observed.get("callbacks"),
        "settled": is_settled,
        "settle_seconds": round(time.monotonic() - started, 1),
        "circuit": observed.get("circuit"),
        "deliveries_at_settle": statuses,
        "delivered_or_held": statuses.get("delivered", 0) + statuses.get("held", 0),
        "probe_in_flight": statuses.get("delivering", 0),
        "dead_lettered": statuses.get("dead", 0),
        "attempts_at_settle": observed.get("attempts"),
    }
    outcome["none_lost"] = bool(
        is_settled
        and observed.get("callbacks") == acked
        and outcome["delivered_or_held"] + outcome["probe_in_flight"] + outcome["dead_lettered"] == acked
    )
    if options.fairness_recovery:
        outcome["recovery"] = _recover(run, label, user_id, load, acked)
        outcome["none_lost"] = outcome["none_lost"] and outcome["recovery"]["lost"] == 0
    return outcome


def _recover(run: Run, label: str, user_id: str, load, acked: int) -> dict:
    """The merchant's server answers again: the next probe closes the circuit and the held ones flow.

    Lost = acknowledged callbacks neither delivered nor dead-lettered once the held ones have drained.
    """
    options, stack = run.options, run.stack
    stack.configure_receiver()
    cooldown = options.circuit_cooldown if options.circuit_cooldown is not None else 30.0
    budget = 4 * max(cooldown, _hang_timeout(options) + 5) + options.hang_seconds + 60
    started = time.monotonic()

    def finished(statuses: dict) -> int:
        return statuses.get("delivered", 0) + statuses.get("dead", 0)

    done = wait_until(
        lambda: finished(endpoint_state(user_id)["deliveries"]) >= acked, timeout=budget, interval=1.0
    )
    statuses = endpoint_state(user_id)["deliveries"]
    records = stack.receiver_records(f"/{label}/e{HANGING:02d}/")
    return {
        "complete": done,
        "seconds": round(time.monotonic() - started, 1),
        "db": statuses,
        "lost": acked - finished(statuses),
        "receiver_requests": len(records),
        "receiver_distinct_callbacks": delivery_figures(records, load, {HANGING})["delivered"],
    }
