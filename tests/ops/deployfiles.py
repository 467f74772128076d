"""Reading the deploy files: compose commands, settings' environment variables, PromQL and rule files."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import promql_parser
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


_TEMPLATE = re.compile(r"\{\{(.*?)\}\}")
_TEMPLATE_ACTION = re.compile(r"^\s*(\$labels\.[a-zA-Z_][a-zA-Z0-9_]*|\$value)\s*$")
_RULE_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
SEVERITIES = {"critical", "warning", "info"}


def promql_problem(expression: str) -> str | None:
    """Why ``expression`` is not valid PromQL (syntax, function names, argument types), or None.

    ``promql-parser`` is the Prometheus parser's Rust port, installed with the dev virtualenv: the
    check needs no Prometheus binary. Grafana's ``$__rate_interval`` is read as 5m, as Grafana fills it.
    """
    try:
        promql_parser.parse(expression.replace("$__rate_interval", "5m"))
    except ValueError as exc:
        return str(exc)
    return None


def rule_problems(path: Path) -> tuple[int, list[str]]:
    """The number of rules in a Prometheus rule file and what is wrong with it.

    What ``promtool check rules`` checks of a file like deploy/prometheus/alerts.yml: groups with
    unique names, each rule an alert or a recording rule with a valid name, PromQL that parses, a
    valid ``for`` duration, string labels and annotations whose templates are well-formed; and, of
    this project's own conventions, a known severity and a summary and description on every alert.
    """
    problems: list[str] = []
    document = yaml.safe_load(path.read_text())
    groups = document.get("groups") if isinstance(document, dict) else None
    if not isinstance(groups, list) or not groups:
        return 0, [f"{path.name}: no groups"]
    count, group_names, alert_names = 0, set(), set()
    for group in groups:
        name = group.get("name")
        if not name or name in group_names:
            problems.append(f"group {name!r}: missing or repeated name")
        group_names.add(name)
        for rule in group.get("rules") or []:
            count += 1
            problems += _one_rule_problems(rule, alert_names)
    return count, problems


def _one_rule_problems(rule: dict, alert_names: set[str]) -> list[str]:
    name = rule.get("alert") or rule.get("record")
    where = f"rule {name!r}"
    problems = []
    if bool(rule.get("alert")) == bool(rule.get("record")):
        return [f"{where}: needs exactly one of alert and record"]
    if not _RULE_NAME.match(name):
        problems.append(f"{where}: not a valid name")
    if "alert" in rule:
        if name in alert_names:
            problems.append(f"{where}: repeated")
        alert_names.add(name)
    if problem := promql_problem(str(rule.get("expr", ""))):
        problems.append(f"{where}: {problem}")
    if "for" in rule:
        try:
            promql_parser.parse_duration(str(rule["for"]))
        except ValueError as exc:
            problems.append(f"{where}: for {rule['for']!r}: {exc}")
    labels, annotations = rule.get("labels") or {}, rule.get("annotations") or {}
    for key, value in {**labels, **annotations}.items():
        if not isinstance(value, str):
            problems.append(f"{where}: {key} is not a string")
            continue
        if value.count("{{") != value.count("}}"):
            problems.append(f"{where}: {key} has an unclosed template")
        for action in _TEMPLATE.findall(value):
            if not _TEMPLATE_ACTION.match(action):
                problems.append(f"{where}: {key} uses {{{{{action}}}}} ($labels.NAME and $value only)")
    if "alert" in rule:
        if labels.get("severity") not in SEVERITIES:
            severity = labels.get("severity")
            problems.append(f"{where}: severity {severity!r} is not one of {sorted(SEVERITIES)}")
        for key in ("summary", "description"):
            if not annotations.get(key):
                problems.append(f"{where}: no {key}")
    return problems
