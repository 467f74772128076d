"""deploy/, Dockerfile and docker-compose.yml refer only to things that exist; the rules and the
dashboard are valid PromQL (checked in Python) and the alert rules pass their unit tests (promtool)."""

from __future__ import annotations

import importlib.util
import json
import runpy
import subprocess

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands, load_command_class

from tests.ops.deployfiles import (
    DASHBOARD,
    DEPLOY,
    RULE_TESTS,
    RULES,
    compose,
    dashboard_expressions,
    gunicorn_variables,
    manage_py_invocations,
    promql_problem,
    rule_problems,
    settings_variables,
)
from tests.ops.live import REPO
from tests.system_tools import promtool

APP_SERVICES = ("migrate", "web", "worker", "prune")
IMAGE_TOOLS = {"redis": "redis-cli", "postgres": "pg_isready"}


def parse_manage_py(args: list[str]) -> None:
    """Fail unless ``manage.py <args>`` names an existing command and its own parser accepts the arguments."""
    name, *rest = args
    commands = get_commands()
    assert name in commands, f"no management command {name!r}"
    command = load_command_class(commands[name], name)
    parsed = command.create_parser("manage.py", name).parse_args(rest)
    if name == "rqworker":
        assert set(parsed.args) <= set(settings.RQ_QUEUES), parsed.args


def test_compose_is_yaml_with_the_services_an_operator_needs():
    services = compose()["services"]
    assert set(services) == {*APP_SERVICES, "redis", "postgres"}
    for name in APP_SERVICES:
        assert services[name]["build"] == "."
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "prune", "redis", "postgres"):
        assert services[name]["restart"] in ("unless-stopped", "always"), name


def test_every_service_command_exists_in_the_project():
    services = compose()["services"]
    for name in APP_SERVICES:
        command = services[name]["command"]
        if command[0] == "gunicorn":
            assert command[1:] == ["-c", "deploy/gunicorn.conf.py"]
            continue
        invocations = manage_py_invocations(command)
        assert invocations, f"{name}: {command}"
        for args in invocations:
            parse_manage_py(args)


def test_gunicorn_config_names_an_importable_app():
    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    module = config["wsgi_app"].split(":")[0]
    assert importlib.util.find_spec(module) is not None
    assert config["logconfig_dict"]["handlers"]["console"]["()"] == "daraja.core.logging.ConsoleHandler"


def test_gunicorn_s_control_socket_is_the_relay_s_own(tmp_path, monkeypatch):
    # gunicorn's default (~/.gunicorn/gunicorn.ctl) is shared by every gunicorn a user runs
    monkeypatch.setenv("DARAJA_VAR_DIR", str(tmp_path / "var"))
    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert config["control_socket"] == str(tmp_path / "var" / "gunicorn.ctl")
    monkeypatch.delenv("DARAJA_VAR_DIR")
    default = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))["control_socket"]
    assert default == str(REPO / "var" / "gunicorn.ctl")


def test_every_health_check_runs_something_that_exists():
    services = compose()["services"]
    checks = runpy.run_path(str(DEPLOY / "healthcheck.py"), run_name="not_main")["CHECKS"]
    for name, service in services.items():
        check = service["healthcheck"]
        if name == "migrate":
            assert check == {"disable": True}  # one-shot
            continue
        kind, program, *args = check["test"]
        assert kind == "CMD"
        if name in IMAGE_TOOLS:
            assert program == IMAGE_TOOLS[name]
        elif args[0] == "deploy/healthcheck.py":
            assert (REPO / args[0]).is_file() and args[1] in checks
        else:
            assert args[0] == "manage.py"
            parse_manage_py(args[1:])


def test_every_environment_variable_given_to_the_app_is_read_by_it():
    read = settings_variables() | gunicorn_variables()
    for name in APP_SERVICES:
        environment = compose()["services"][name]["environment"]
        unknown = set(environment) - read
        assert not unknown, f"{name} sets variables nothing reads: {unknown}"


def test_workers_scale_and_wait_for_migrations_and_healthy_stores():
    services = compose()["services"]
    for name in ("web", "worker", "prune"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}
        assert depends["redis"] == depends["postgres"] == {"condition": "service_healthy"}
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker  # `--scale worker=N` needs both absent
    assert int(worker["stop_grace_period"].rstrip("s")) > 120  # longer than the longest endpoint timeout


def test_redis_keeps_an_append_only_file_and_both_stores_keep_volumes():
    document = compose()
    redis, postgres = document["services"]["redis"], document["services"]["postgres"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert "redis-data:/data" in redis["volumes"]
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert set(document["volumes"]) == {"redis-data", "postgres-data"}


def test_the_dockerfile_runs_the_project_s_own_files():
    lines = (REPO / "Dockerfile").read_text().splitlines()
    command = json.loads(next(line for line in lines if line.startswith("CMD "))[4:])
    assert command == ["gunicorn", "-c", "deploy/gunicorn.conf.py"]
    health = next(line for line in lines if line.strip().startswith("CMD [") and "healthcheck" in line)
    assert json.loads(health.strip()[4:]) == ["python", "deploy/healthcheck.py", "web"]
    assert "COPY requirements.txt ." in lines


def test_the_alert_rules_are_valid_rules_in_valid_promql():
    count, problems = rule_problems(RULES)
    assert problems == []
    assert count == 10


def test_the_rule_check_finds_what_is_wrong_in_a_broken_rule_file(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "g",
                        "rules": [
                            {"alert": "A", "expr": "sum(rate(x[5m])", "labels": {"severity": "warning"}},
                            {"alert": "A", "expr": "rate(x)", "for": "5 minutes"},
                            {
                                "alert": "B",
                                "expr": "x > 1",
                                "labels": {"severity": "page"},
                                "annotations": {"summary": "{{ $labels.instance }", "description": "d"},
                            },
                        ],
                    }
                ]
            }
        )
    )
    count, problems = rule_problems(broken)
    text = "\n".join(problems)
    assert count == 3
    assert "unclosed left parenthesis" in text
    assert "repeated" in text
    assert "expected type matrix in call to function 'rate'" in text
    assert "for '5 minutes'" in text
    assert "severity 'page'" in text
    assert "unclosed template" in text


def test_the_alert_rules_pass_their_unit_tests():
    tests = subprocess.run([promtool(), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "SUCCESS" in tests.stdout + tests.stderr


def test_every_dashboard_query_is_valid_promql():
    expressions = dashboard_expressions()
    assert len(expressions) >= 15
    problems = {expression: promql_problem(expression) for expression in expressions}
    assert {expression: problem for expression, problem in problems.items() if problem} == {}
    assert promql_problem("sum by (le) (rate(x[$__rate_interval])") == "unclosed left parenthesis"


def test_every_dashboard_panel_reads_the_chosen_prometheus():
    dashboard = json.loads(DASHBOARD.read_text())
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


@pytest.mark.parametrize("variable", sorted(settings_variables() | gunicorn_variables()))
def test_docs_operations_documents_every_variable(variable):
    operations = (REPO / "docs" / "operations.md").read_text()
    assert f"`{variable}`" in operations, (
        f"{variable} is read by the relay but not documented in docs/operations.md"
    )
