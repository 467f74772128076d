"""``make test``'s first step (tests/system_tools.py) on a machine without Chromium or promtool.

The machine's own programs stay as they are: each test runs the step with a ``PATH`` of its own,
in which the tools are absent, present, or brought by a stand-in ``apt-get`` that records what it
was asked and puts the programs where the package would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APT_STAND_IN = """#!/bin/sh
PATH=/usr/bin:/bin  # its own helpers; the step under test still sees only the test's PATH
echo "$@" >> "{log}"
case " $* " in
  *" install "*chromium*) printf '#!/bin/sh\\n' > "{bin}/chromium"; chmod +x "{bin}/chromium" ;;
  *" install "*prometheus*) printf '#!/bin/sh\\n' > "{bin}/promtool"; chmod +x "{bin}/promtool" ;;
esac
"""


def executable(path: Path, text: str = "#!/bin/sh\n") -> None:
    path.write_text(text)
    path.chmod(0o755)


def run_step(path: str, **extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CHROMIUM_PATH", "PROMTOOL")}
    env.update(PATH=path, **extra)
    return subprocess.run(
        [sys.executable, str(ROOT / "tests" / "system_tools.py")], env=env, capture_output=True, text=True
    )


def test_with_both_tools_on_path_it_installs_nothing(tmp_path):
    for name in ("chromium", "promtool"):
        executable(tmp_path / name)
    log = tmp_path / "apt.log"
    executable(tmp_path / "apt-get", APT_STAND_IN.format(log=log, bin=tmp_path))
    done = run_step(str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert not log.exists()


def test_without_the_tools_or_apt_get_it_says_what_is_missing_and_how_to_get_it(tmp_path):
    done = run_step(str(tmp_path))
    assert done.returncode == 1
    assert "chromium is needed by tests/browser" in done.stderr
    assert "promtool is needed by tests/ops" in done.stderr
    assert "apt-get install chromium prometheus" in done.stderr
    assert "CHROMIUM_PATH or PROMTOOL" in done.stderr


def test_a_tool_named_by_its_variable_counts_as_found(tmp_path):
    executable(tmp_path / "my-chromium")
    executable(tmp_path / "promtool")
    done = run_step(str(tmp_path), CHROMIUM_PATH=str(tmp_path / "my-chromium"))
    assert done.returncode == 0, done.stderr
    # and one that names nothing runnable does not
    done = run_step(str(tmp_path), CHROMIUM_PATH=str(tmp_path / "nothing-here"))
    assert done.returncode == 1
    assert "chromium is needed" in done.stderr and "promtool" not in done.stderr


def test_with_apt_get_it_installs_only_the_missing_packages_and_only_as_root(tmp_path):
    # given promtool present, Chromium missing, and apt-get at hand
    executable(tmp_path / "promtool")
    log = tmp_path / "apt.log"
    executable(tmp_path / "apt-get", APT_STAND_IN.format(log=log, bin=tmp_path))
    # when
    done = run_step(str(tmp_path))
    if os.geteuid() != 0:
        # then a user who is not root is told how to get Chromium, and apt-get is left alone
        assert done.returncode == 1
        assert "apt-get install chromium" in done.stderr
        assert not log.exists()
        return
    # then (as root: CI and the machines here) apt-get updated its lists and installed chromium only
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert len(calls) == 2
    assert calls[0].endswith("update -qq")
    assert calls[1].endswith("install -y -qq chromium")
    assert "installing chromium" in done.stderr
    assert (tmp_path / "chromium").exists()
