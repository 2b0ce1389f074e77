"""The demo's plain-text table."""

from __future__ import annotations

from typing import Any

from hookgate.demo.display import render_plain
from hookgate.demo.scenarios import Row
from tests.demo._rows import ROW_TITLES


def test_render_plain_lists_every_row(rows: dict[str, tuple[Row, dict[str, Any]]]) -> None:
    listed = [r for r, _ in rows.values()]
    text = render_plain(listed, set())
    assert text.splitlines()[0].split() == ["scheme", "endpoint", "delivered", "receiver", "verdict"]
    assert len(text.splitlines()) == 2 + len(ROW_TITLES)
