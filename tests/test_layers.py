"""The layers of the README's architecture section import only downwards (checked on the source, so a lazy
import inside a function counts too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "hookgate"

# package -> the hookgate modules it must never import (anything above it in the layering)
_FRONT_ENDS = ("hookgate.api", "hookgate.cli", "hookgate.console", "hookgate.demo", "hookgate.gateway")
_FACADE = ("hookgate.client", "hookgate.sync", "hookgate.services")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "schemes": (
        *_FRONT_ENDS,
        *_FACADE,
        "hookgate.inbound",
        "hookgate.outbound",
        "hookgate.store",
        "hookgate.policy",
        "hookgate.config",
    ),
    "policy": (
        *_FRONT_ENDS,
        *_FACADE,
        "hookgate.inbound",
        "hookgate.outbound",
        "hookgate.store",
        "hookgate.config",
    ),
    "config": (*_FRONT_ENDS, *_FACADE, "hookgate.inbound", "hookgate.outbound", "hookgate.store"),
    "store": (*_FRONT_ENDS, *_FACADE, "hookgate.inbound", "hookgate.outbound"),
    "outbound": (*_FRONT_ENDS, *_FACADE, "hookgate.inbound"),
    "inbound": (*_FRONT_ENDS, *_FACADE),
    "services": _FRONT_ENDS,
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files
    wrong = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in files
        for name in sorted(_imports(path))
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package])
    ]
    assert not wrong, wrong
