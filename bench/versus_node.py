"""The ``versus-node`` scenario: the shared harness's Node/BullMQ stack and the relay, one run, one harness.

Issue 13 states its targets as ratios to the Node stack measured in the
same run, on the same machine, with the shared harness (``../shared/bench``:
its Node load driver, sink and ``measure.sh``). This scenario:

1. copies that harness to a temp dir (the shared one is read-only; the copy
   is made writable so ``npm ci`` can install beside it) and runs ``npm ci``;
2. runs its ``run-seed.sh`` (Redis, sink, seed server, one BullMQ worker of
   concurrency 5, then ``measure.sh``; it stops all it started);
3. starts the relay as shipped: Redis, a throwaway database, gunicorn with
   ``deploy/gunicorn.conf.py`` (bound to 127.0.0.1) and 2 x ``manage.py
   rqworker urgent high normal low --with-scheduler``, with no setting
   overridden but ``DELIVERY_ALLOWED_NETWORKS=127.0.0.0/8`` (the sink is on
   loopback); every variable ``daraja/settings.py`` or the gunicorn config
   reads is dropped from the inherited environment;
4. starts the same sink (same port) and runs the same ``measure.sh`` (same
   N, connections, slow N and latency) against the relay, whose one bench
   endpoint delivers to the sink; measure.sh posts the full inbound URL
   ``/webhook/<user_id>/<token>`` (its ``{user}`` placeholder is not needed);
5. prints figure | relay | node | ratio | target and returns the figures.

Everything binds to 127.0.0.1; measure.sh bounds each phase (its load driver
stops sending after 300 s; a wait ends at ``WAIT_TIMEOUT`` or 30 s without
progress) and every subprocess here has a timeout on top.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from bench.measure import ResourceMonitor, cpu_delta, load_average
from bench.stack import REPO, Stack, WebSettings, free_port

NAME = "versus-node"
DEFAULT_HARNESS = REPO.parent / "shared" / "bench"
DEFAULT_N = 10_000  # the N (the relay's own scenarios default to 20,000)
BENCH_USER = "bench-vs-node"
# The one override the issue allows: the sink is on loopback, which the destination guard refuses otherwise.
ALLOWED_OVERRIDES = {"DELIVERY_ALLOWED_NETWORKS": "127.0.0.0/8"}
# run-seed.sh's ports; taken ones (another engineer's run) are replaced by free ones.
PREFERRED_PORTS = {"REDIS_PORT": 6390, "SINK_PORT": 9100, "SEED_PORT": 3101}

# figure -> (key in the figures, comparison, target, "ratio" (relay/node) or "relay" (the relay's value))
TARGETS = {
    "ingest_acks_per_second": ("ingest_acks_per_second", ">=", 0.25, "ratio"),
    "ack_p99_ms": ("ack_p99_ms", "<=", 100, "relay"),
    "e2e_deliveries_per_second": ("e2e_deliveries_per_second", ">=", 0.33, "ratio"),
    "slow_deliveries_per_second": ("slow_deliveries_per_second", ">=", 4, "ratio"),
    "web_plus_workers_peak_rss_mb": ("web_plus_workers_peak_rss_mb", "<=", 300, "relay"),
}
LABELS = {
    "ingest_acks_per_second": "ingest acks/s while delivering",
    "ack_p99_ms": "ack p99 ms",
    "e2e_deliveries_per_second": "end to end deliveries/s",
    "slow_deliveries_per_second": "100 ms receiver deliveries/s",
    "web_plus_workers_peak_rss_mb": "peak RSS MB, web + workers",
}


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S', time.gmtime())}] {message}", file=sys.stderr, flush=True)


# --- the harness copy ----------------------------------------------------------------------------
def copy_harness(source: Path, into: Path) -> Path:
    """A writable copy of the shared harness (without installed packages or old results)."""
    if not (source / "measure.sh").is_file() or not (source / "run-seed.sh").is_file():
        raise RuntimeError(f"{source} has no measure.sh / run-seed.sh (--node-harness)")
    target = into / "harness"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("node_modules", "results"))
    # The shared tree is read-only (dr-xr-xr-x); copies keep the mode, so npm ci could not write
    # node_modules and run-seed.sh could not create results/ without this.
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return target


def npm_ci(harness: Path, log: Path) -> None:
    for folder in ("load", "seed-stack"):
        with open(log, "ab") as out:
            # A fixed npm command in our own copy of the harness.
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund"],  # noqa: S607
                cwd=harness / folder,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=600,
                check=True,
            )


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ports() -> dict[str, int]:
    chosen = {}
    for name, port in PREFERRED_PORTS.items():
        chosen[name] = port if _port_free(port) else free_port()
    return chosen


def _run_bounded(command: list[str], *, cwd: Path, env: dict, timeout: float, log: Path) -> str:
    """Run ``command`` in its own session; stdout returned, stderr to ``log``. On timeout: SIGTERM
    (the scripts stop what they started on TERM), then SIGKILL to the whole session after 30 s."""
    with open(log, "ab") as err:
        # Our copies of the shared harness's scripts.
        process = subprocess.Popen(  # noqa: S603
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=err, start_new_session=True
        )
        try:
            stdout, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate(timeout=10)
            raise RuntimeError(f"{command[0]} did not finish within {timeout:.0f}s; see {log}") from None
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} exited with status {process.returncode}; see {log}")
    return stdout.decode()


def _phase_files(directory: Path) -> dict:
    """measure.sh's per-phase JSON files (OUT_DIR): ingest, e2e, slow_ingest, slow_e2e."""
    files = {}
    for name in ("ingest", "e2e", "slow_ingest", "slow_e2e"):
        path = directory / f"{name}.json"
        if path.is_file():
            files[name] = json.loads(path.read_text())
    return files


# --- the Node stack -------------------------------------------------------------------------------
def run_node(harness: Path, env: dict, timeout: float, work: Path) -> dict:
    """run-seed.sh as its README says; KEEP_TMP=1 so measure.sh's per-phase files can be read."""
    log = work / "run-seed.stderr.log"
    stdout = _run_bounded(
        [str(harness / "run-seed.sh")], cwd=harness, env={**env, "KEEP_TMP": "1"}, timeout=timeout, log=log
    )
    summary = json.loads(stdout.strip().splitlines()[-1])
    kept = re.findall(r"logs kept in (\S+)", log.read_text())
    phases = {}
    if kept and Path(kept[-1]).is_dir():
        seed_tmp = Path(kept[-1])
        phases = _phase_files(seed_tmp / "results")
        # run-seed.sh made it under /tmp; keep it with our own logs (removed with them unless --keep-logs).
        shutil.move(str(seed_tmp), str(work / "node-logs"))
    return {"summary": summary, "phases": phases}


# --- the relay as shipped ---------------------------------------------------------------------------
def settings_variables() -> set[str]:
    """Every environment variable the relay's settings or its gunicorn config reads."""
    names = set()
    for path in (REPO / "daraja" / "settings.py", REPO / "deploy" / "gunicorn.conf.py"):
        text = path.read_text()
        names.update(re.findall(r"\benv(?:\.\w+)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']", text))
        names.update(re.findall(r"environ(?:\.get)?[\(\[]\s*[\"']([A-Z][A-Z0-9_]*)[\"']", text))
    return names | {"GUNICORN_CMD_ARGS"}


class ShippedStack(Stack):
    """The relay as deployed: gunicorn from deploy/gunicorn.conf.py (on loopback), settings as shipped."""

    KEEP = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "DARAJA_VAR_DIR", *ALLOWED_OVERRIDES}

    def __init__(self, *, database_url: str | None, keep_logs: bool) -> None:
        super().__init__(web=WebSettings(0, 0), database_url=database_url, keep_logs=keep_logs)
        dropped = sorted(
            name for name in settings_variables() - self.KEEP if name in self.base_env and name in os.environ
        )
        for name in settings_variables() - self.KEEP:
            self.base_env.pop(name, None)  # the harness's own LOG_LEVEL/DJANGO_DEBUG too: as shipped
        self.base_env.update(ALLOWED_OVERRIDES)
        self.dropped_from_environment = dropped

    def web_command(self) -> list[str]:
        # Command-line options override the config file: only the bind moves, to loopback.
        return [
            sys.executable,
            *("-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{self.web_port}"),
        ]

    def relay_env(self) -> dict[str, str]:
        """The relay settings this run sets (everything else is the shipped default)."""
        return {k: v for k, v in self.base_env.items() if k in settings_variables()}

    def role_pids(self) -> dict[str, list[int]]:
        """For measure.sh's PROCS: gunicorn's master and its workers; the RQ workers (SimpleWorker: no
        work horse) and any children they have."""

        def tree(pid: int) -> list[int]:
            try:
                root = psutil.Process(pid)
                return [pid, *(child.pid for child in root.children(recursive=True))]
            except psutil.NoSuchProcess:
                return []

        return {
            "server": tree(self.processes["web"].pid),
            "worker": [pid for process in self.workers for pid in tree(process.pid)],
        }


def _sink(harness: Path, port: int, log: Path) -> subprocess.Popen:
    out = open(log, "ab")  # noqa: SIM115 (closed with the process)
    # The harness's own sink, in our copy.
    process = subprocess.Popen(  # noqa: S603
        ["node", str(harness / "sink" / "sink.js")],  # noqa: S607
        env={**os.environ, "SINK_PORT": str(port), "SINK_HOST": "127.0.0.1"},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats?lite=1", timeout=1):
                return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the sink did not start; see {log}") from None
            time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def run_relay(harness: Path, env: dict, timeout: float, work: Path, options) -> dict:
    from bench.analysis import endpoint_state

    stack = ShippedStack(database_url=os.environ.get("DATABASE_URL"), keep_logs=options.keep_logs)
    sink = None
    monitor = ResourceMonitor()
    try:
        progress(f"relay: starting as shipped ({stack.database.engine}, logs in {stack.dir})")
        stack.start(receiver=False)
        stack.start_workers(2, {})
        sink = _sink(harness, int(env["SINK_PORT"]), work / "relay-sink.log")
        from django.core.management import call_command

        out = io.StringIO()
        call_command("add_endpoint", BENCH_USER, "--url", f"{env['SINK_URL']}/hook", stdout=out)
        target_url = stack.web_base + json.loads(out.getvalue())["inbound_path"]
        roles = stack.role_pids()
        # Sampled too: a process that ends before measure.sh reads VmHWM at the end would be missed.
        monitor.groups.update(
            {"web": [stack.processes["web"].pid], "workers": [p.pid for p in stack.workers]}
        )
        monitor.start()
        cpu_before = monitor.cpu_seconds()
        out_dir = work / "relay-measure"
        measure_env = {
            **env,
            "TARGET_URL": target_url,
            "LABEL": "relay",
            "OUT_DIR": str(out_dir),
            "PROCS": " ".join(f"{role}={','.join(map(str, pids))}" for role, pids in roles.items()),
        }
        progress(f"relay: measure.sh against {stack.web_base}/webhook/{BENCH_USER}/…")
        stdout = _run_bounded(
            [str(harness / "measure.sh")],
            cwd=harness,
            env=measure_env,
            timeout=timeout,
            log=work / "relay.log",
        )
        monitor.sample()
        cpu = cpu_delta(cpu_before, monitor.cpu_seconds())
        summary = json.loads(stdout.strip().splitlines()[-1])
        stack.check_alive()
        state = endpoint_state(BENCH_USER)
        peaks = monitor.peaks(0, time.monotonic())
        return {
            "summary": summary,
            "phases": _phase_files(out_dir),
            "db": state,
            "sampled_peak_rss_mb": {k: v["rss_mb"] for k, v in peaks.items()},
            "cpu_seconds_sampled": cpu,
            "relay_env": stack.relay_env(),
            "dropped_from_environment": stack.dropped_from_environment,
            "database": stack.database.engine,
            "pids": roles,
        }
    finally:
        try:
            monitor.stop()
            if sink is not None:
                _stop(sink)
        finally:  # whatever failed above, the relay's processes stop and its database is dropped
            progress("relay: stopping")
            stack.stop()


# --- figures ---------------------------------------------------------------------------------------
def _get(data: dict, *path):
    for key in path:
        if not isinstance(data, dict) or data.get(key) is None:
            return None
        data = data[key]
    return data


def figures(run: dict, *, role_server: str = "server", role_worker: str = "worker") -> dict:
    """The five compared figures of one system, from measure.sh's summary and phase files."""
    summary, phases = run["summary"], run.get("phases", {})
    # Acks are 2xx answers: measure.sh's ``rps`` counts every request sent, errors included.
    acks = _get(phases, "ingest", "ok_per_s")
    if acks is None:
        acks = summary["ingest"]["rps"]
    procs = summary.get("procs", {})
    rss = sum(_get(procs, role, "peak_rss_mb") or 0 for role in (role_server, role_worker))
    return {
        "ingest_acks_per_second": acks,
        "ack_p99_ms": _get(summary, "ingest", "ack_ms", "p99"),
        "e2e_deliveries_per_second": _get(summary, "e2e", "per_s") or 0,
        "slow_deliveries_per_second": _get(summary, "slow", "per_s") or 0,
        "web_plus_workers_peak_rss_mb": round(rss, 1),
    }


def correctness(run: dict, n: int, slow_n: int) -> dict:
    """Lost, doubled and attempt rows against the requests the sink saw (only meaningful when complete)."""
    summary, phases = run["summary"], run.get("phases", {})
    seen = sum(
        (_get(phases, phase, "count") or 0) + (_get(phases, phase, "failed_attempts") or 0)
        for phase in ("e2e", "slow_e2e")
    )
    checks = {
        "ingest_errors": summary["ingest"].get("errors"),
        "e2e_complete": summary["e2e"].get("complete"),
        "slow_complete": summary["slow"].get("complete"),
        "lost": (n - (summary["e2e"].get("delivered") or 0))
        + (slow_n - (summary["slow"].get("delivered") or 0)),
        "duplicates": (summary["e2e"].get("duplicates") or 0) + (_get(phases, "slow_e2e", "duplicates") or 0),
        "sink_requests": seen,
    }
    if "db" in run:
        checks["attempt_rows"] = run["db"]["attempts"]
        checks["one_attempt_row_per_request"] = run["db"]["attempts"] == seen
        checks["db_deliveries"] = run["db"]["deliveries"]
    return checks


def compare(relay: dict, node: dict) -> tuple[dict, dict]:
    """Ratios relay/node per figure, and each target with its value and whether it is met."""
    ratios = {
        name: (round(relay[name] / node[name], 3) if relay.get(name) is not None and node.get(name) else None)
        for name in LABELS
    }
    targets = {}
    for name, (key, comparison, target, on) in TARGETS.items():
        value = ratios[key] if on == "ratio" else relay.get(key)
        met = value is not None and (value >= target if comparison == ">=" else value <= target)
        suffix = "x" if on == "ratio" else ""
        targets[f"versus_node_{name}"] = {
            "value": value,
            "target": f"{comparison} {target}{suffix}",
            "met": met,
        }
    return ratios, targets


def table(result: dict) -> str:
    rows = [("figure", "relay", "node", "ratio", "target")]
    for name, label in LABELS.items():
        check = result["targets"][f"versus_node_{name}"]
        relay, node, ratio = result["relay"][name], result["node"][name], result["ratios"][name]
        rows.append(
            (
                label,
                "-" if relay is None else f"{relay:g}",
                "-" if node is None else f"{node:g}",
                "-" if ratio is None else f"{ratio:.2f}x",
                f"{check['target']} {'met' if check['met'] else 'MISSED'}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [" | ".join(f"{cell:<{widths[i]}}" for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    c = result["relay_checks"]
    lines.append(
        f"relay: ingest errors {c['ingest_errors']},"
        f" complete e2e/slow {c['e2e_complete']}/{c['slow_complete']},"
        f" lost {c['lost']}, duplicates {c['duplicates']}, attempt rows {c.get('attempt_rows')}"
        f" for {c['sink_requests']} requests at the sink"
    )
    sampled = result["relay_extra"].get("sampled_peak_rss_mb")
    if sampled:
        lines.append(f"relay RSS sampled each second (peak per group, MB): {sampled}")
    return "\n".join(lines)


# --- the scenario ---------------------------------------------------------------------------------
def versus_node(options) -> dict:
    """Node first, then the relay, back to back through the same measure.sh; returns the figures."""
    n = options.n or DEFAULT_N
    work = Path(tempfile.mkdtemp(prefix="daraja-versus-node-"))
    try:
        harness = copy_harness(Path(options.node_harness), work)
        progress(f"npm ci in the harness copy {harness}")
        npm_ci(harness, work / "npm.log")
        chosen = ports()
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("N", "CONNS", "SLOW_N", "PROCS", "TARGET_URL")
            },
            "N": str(n),
            "CONNS": str(options.concurrency),
            "SLOW_N": str(options.slow_n),
            "SLOW_LATENCY_MS": str(options.slow_delay_ms),
            "WAIT_TIMEOUT": str(int(options.scenario_timeout)),
            **{k: str(v) for k, v in chosen.items()},
            "SINK_URL": f"http://127.0.0.1:{chosen['SINK_PORT']}",
        }
        # measure.sh: up to 300 s of sending and WAIT_TIMEOUT of waiting, twice; then a margin.
        timeout = 2 * (300 + options.scenario_timeout) + 180
        config = {
            "n": n,
            "connections": options.concurrency,
            "slow_n": options.slow_n,
            "slow_latency_ms": options.slow_delay_ms,
            "wait_timeout_s": int(options.scenario_timeout),
            "ports": chosen,
            "harness": str(options.node_harness),
            "order": ["node", "relay"],
            "node": "run-seed.sh: seed server + 1 BullMQ worker, concurrency 5, its own Redis",
            "relay": "gunicorn -c deploy/gunicorn.conf.py (bind 127.0.0.1) + 2 x manage.py rqworker "
            "urgent high normal low --with-scheduler; settings as shipped",
        }
        progress(f"node: run-seed.sh (N={n}, CONNS={options.concurrency}, SLOW_N={options.slow_n})")
        load_before = load_average()
        node_run = run_node(harness, env, timeout, work)
        progress("node: done")
        relay_run = run_relay(harness, env, timeout, work, options)
        progress("relay: done")
        node = figures(node_run)
        relay = figures(relay_run)
        # measure.sh reads VmHWM at the end and would miss a process gone by then: the sampled peak if higher.
        sampled = relay_run["sampled_peak_rss_mb"]
        relay["web_plus_workers_peak_rss_mb"] = max(
            relay["web_plus_workers_peak_rss_mb"], round(sampled.get("web", 0) + sampled.get("workers", 0), 1)
        )
        ratios, targets = compare(relay, node)
        config["relay_env"] = relay_run["relay_env"]
        config["dropped_from_environment"] = relay_run["dropped_from_environment"]
        config["database"] = relay_run["database"]
        return {
            "config": config,
            "relay": relay,
            "node": node,
            "ratios": ratios,
            "targets": targets,
            "relay_checks": correctness(relay_run, n, options.slow_n),
            "node_checks": correctness(node_run, n, options.slow_n),
            "relay_summary": relay_run["summary"],
            "node_summary": node_run["summary"],
            "relay_extra": {
                "sampled_peak_rss_mb": relay_run["sampled_peak_rss_mb"],
                "cpu_seconds_sampled": relay_run["cpu_seconds_sampled"],
            },
            "load_average": {"before": load_before, "after": load_average()},
        }
    finally:
        if options.keep_logs:
            progress(f"versus-node logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
