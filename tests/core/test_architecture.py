"""docs/architecture.md stays true to the code: every package and top-level module is named in it, and its
list of layers is the one import-linter enforces (`[tool.importlinter]` in pyproject.toml)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "smart_vault"
DOC = ROOT / "docs" / "architecture.md"


def _doc_layers(text: str) -> list[str]:
    block = re.search(r"<!-- layers:.*?-->(.*?)<!-- /layers -->", text, re.S)
    assert block, "docs/architecture.md has lost its <!-- layers --> block"
    layers = []
    for line in block.group(1).strip().splitlines():
        names = re.findall(r"`(smart_vault\.[a-z_]+)`", line)
        layers.append(" | ".join(names))
    return layers


def _contract_layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [" | ".join(part.strip() for part in layer.split("|")) for layer in contract["layers"]]


def test_every_package_and_module_is_named_in_the_architecture_page():
    text = DOC.read_text()
    names = sorted(
        [p.name + "/" for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")]
        + [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    )
    missing = [name for name in names if name not in text]
    assert not missing, f"docs/architecture.md does not name: {missing}"


def test_every_layer_of_the_code_is_in_the_import_contract():
    layered = {name for layer in _contract_layers() for name in layer.split(" | ")}
    code = {
        f"smart_vault.{p.stem if p.suffix else p.name}"
        for p in PACKAGE.iterdir()
        if not p.name.startswith("__")
        and (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))
    }
    assert code - layered == set(), (
        f"modules in no layer of the import-linter contract: {sorted(code - layered)}"
    )


def test_the_page_lists_the_layers_import_linter_enforces():
    assert _doc_layers(DOC.read_text()) == _contract_layers()
