"""Reading the deploy files: compose commands, settings' environment variables, PromQL metric names."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from tests.ops.live import REPO

DEPLOY = REPO / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "daraja-relay.json"

_ENV_READ = re.compile(r"""env(?:\(\))?\.(?:str|bool|int|float|list|db|url)\(\s*["']([A-Z][A-Z0-9_]*)["']""")
_OS_ENV_READ = re.compile(r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]*)["']""")
_METRIC = re.compile(r"\b(daraja_[a-z0-9_]+|up)\b")


def settings_variables() -> set[str]:
    """Every environment variable daraja/settings.py reads."""
    return set(_ENV_READ.findall((REPO / "daraja" / "settings.py").read_text()))


def gunicorn_variables() -> set[str]:
    return set(_OS_ENV_READ.findall((DEPLOY / "gunicorn.conf.py").read_text()))


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def manage_py_invocations(command: list[str]) -> list[list[str]]:
    """The ``manage.py`` argument lists a service command runs (directly or inside ``sh -c``)."""
    if command[:2] == ["sh", "-c"]:
        words = shlex.split(command[2].replace(";", " ; "))
        runs, current = [], None
        for word in words:
            if word == "manage.py":
                current = []
                runs.append(current)
            elif word in (";", "&&", "||", "do", "done"):
                current = None
            elif current is not None:
                current.append(word)
        return runs
    if command[:2] == ["python", "manage.py"]:
        return [command[2:]]
    return []


def rule_expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def metric_names(expressions: list[str]) -> set[str]:
    return {name for expression in expressions for name in _METRIC.findall(expression)}


def exported_names(exposition: str) -> set[str]:
    """Every sample name a /metrics answer can carry, from its ``# TYPE`` lines (samples or not)."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, flags=re.MULTILINE):
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
        elif kind == "counter":
            names |= {name if name.endswith("_total") else f"{name}_total"}
        else:
            names.add(name)
    return names


def write_recording_rules(expressions: list[str], path: Path) -> Path:
    """The expressions as recording rules, so that ``promtool check rules`` parses them as PromQL."""
    rules = [
        {"record": f"dashboard:check:{number}", "expr": expression.replace("$__rate_interval", "5m")}
        for number, expression in enumerate(expressions)
    ]
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    return path
