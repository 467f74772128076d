"""The layers contract (pyproject.toml, ``[tool.importlinter]``) covers the whole project.

``make test`` runs ``lint-imports``, which checks the contract; these tests
check the contract itself: a module added to ``daraja`` outside the glue
layer's list would escape it, and the apps must stay in flow order.
"""

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _contract() -> dict:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return layers


def _glue_modules() -> set[str]:
    return {name.strip() for name in _contract()["layers"][0].split(":")}


def test_every_module_of_daraja_but_its_core_is_in_the_glue_layer():
    daraja = REPO / "daraja"
    present = {
        f"daraja.{path.stem if path.suffix == '.py' else path.name}"
        for path in daraja.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists() and path.name != "core")
    }
    assert present - _glue_modules() == set(), "list these daraja modules in the glue layer of pyproject.toml"
    assert _glue_modules() - present == set(), "the glue layer lists modules that do not exist"


def test_the_apps_are_layered_in_the_order_a_callback_crosses_them():
    assert _contract()["layers"][1:] == ["webhooks", "delivery", "deadletter", "daraja.core"]
