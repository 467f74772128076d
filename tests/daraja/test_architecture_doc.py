"""docs/ARCHITECTURE.md's module table matches the tree: every module listed, every listed one there."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("daraja", "webhooks", "delivery", "deadletter")
# Package markers and Django's app configs say nothing a reader needs.
UNLISTED = {"__init__.py", "apps.py"}


def _modules_in_tree() -> set[str]:
    return {
        path.relative_to(REPO).as_posix()
        for package in PACKAGES
        for path in (REPO / package).rglob("*.py")
        if "migrations" not in path.parts and path.name not in UNLISTED
    }


def _modules_in_table() -> set[str]:
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    table = text[text.index("## Modules") :]
    return {
        name
        for row in table.splitlines()
        if row.startswith("| `")
        for name in re.findall(r"`([\w/]+\.py)`", row.split("|")[1])
    }


def test_every_module_is_in_the_architecture_table():
    assert _modules_in_tree() - _modules_in_table() == set(), "add these modules to docs/ARCHITECTURE.md"


def test_the_architecture_table_names_only_modules_that_exist():
    assert _modules_in_table() - _modules_in_tree() == set(), "these modules are gone: update the table"
