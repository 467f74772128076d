"""The two programs the suite needs beyond the virtualenv, found or installed: ``make test`` runs this first.

* Chromium, which Playwright drives in ``tests/browser`` (Playwright's own browser download is not
  used: Debian's package is what a machine here can install).
* ``promtool`` (Debian's ``prometheus`` package), which runs the alert rules' unit tests in
  ``tests/ops`` (``promtool test rules``: it evaluates the rules over input series, which no Python
  package does; the rules' and dashboard's PromQL is parsed in Python, with ``promql-parser``).

Each is taken from its variable (``CHROMIUM_PATH``, ``PROMTOOL``) or from ``PATH``. When one is
missing and this runs as root with ``apt-get`` at hand, it installs the Debian package; otherwise it
says what is missing and how to get it, and exits 1, before the suite spends ten minutes finding out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Tool:
    name: str
    variable: str
    package: str
    needed_by: str
    apt_options: tuple[str, ...] = ()


CHROMIUM = Tool("chromium", "CHROMIUM_PATH", "chromium", "tests/browser (the admin in a real browser)")
PROMTOOL = Tool(
    "promtool",
    "PROMTOOL",
    "prometheus",
    "tests/ops (the alert rules' unit tests)",
    # The server's web assets and the like are not needed for promtool.
    ("--no-install-recommends",),
)
TOOLS = (CHROMIUM, PROMTOOL)
# Another apt-get may hold the lock (an unattended upgrade, a second checkout's `make test`): wait for it.
APT = ("apt-get", "-o", "DPkg::Lock::Timeout=600", "-o", "Acquire::Retries=3")


def find(tool: Tool) -> str | None:
    """The tool's path: its variable when that names an executable, else the first on PATH."""
    configured = os.environ.get(tool.variable, "")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which(tool.name)


def chromium() -> str:
    """Chromium for the browser tests; fails the test with the way to get it when there is none."""
    return _required(CHROMIUM)


def promtool() -> str:
    return _required(PROMTOOL)


def _required(tool: Tool) -> str:
    path = find(tool)
    assert path, _how_to_get([tool])
    return path


def _how_to_get(missing: list[Tool]) -> str:
    lines = [f"{tool.name} is needed by {tool.needed_by} and was not found." for tool in missing]
    packages = " ".join(tool.package for tool in missing)
    variables = " or ".join(tool.variable for tool in missing)
    lines.append(
        f"Install it (Debian/Ubuntu: apt-get install {packages}; `make test` does this itself when run as "
        f"root where apt-get exists), or set {variables} to the program's path."
    )
    return "\n".join(lines)


def ensure() -> int:
    """Find each tool, installing what is missing when possible; 0 when all are there, else 1."""
    missing = [tool for tool in TOOLS if not find(tool)]
    if not missing:
        return 0
    names = ", ".join(tool.name for tool in missing)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(_how_to_get(missing), file=sys.stderr)
        return 1
    print(f"make test: installing {names} (Debian packages) for the test suite", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Fixed program names and package names from this file, never outside input.
    subprocess.run([*APT, "update", "-qq"], check=True, env=env)
    for tool in missing:
        command = [*APT, "install", "-y", "-qq", *tool.apt_options, tool.package]
        subprocess.run(command, check=True, env=env)
    still_missing = [tool for tool in missing if not find(tool)]
    if still_missing:
        print(_how_to_get(still_missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(ensure())
