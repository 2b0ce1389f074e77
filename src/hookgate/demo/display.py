"""The demo's output: the table of scenarios and their receivers' verdicts, live on a terminal or plain."""

from __future__ import annotations

import contextlib
from typing import Any, TextIO

from hookgate.demo.scenarios import Row

__all__ = ["REFRESH_S", "Display", "render_plain"]

REFRESH_S = 0.5


def render_plain(rows: list[Row], delivered_ids: set[str]) -> str:
    header = ("scheme", "endpoint", "delivered", "receiver verdict")
    lines = [(r.title, r.endpoint_id, str(r.delivered(delivered_ids)), r.verdict) for r in rows]
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) for i in range(3)]
    out = []
    for cells in (header, *lines):
        out.append("  ".join(c.ljust(w) for c, w in zip(cells[:3], widths, strict=True)) + "  " + cells[3])
        if cells is header:
            out.append("  ".join("-" * w for w in widths) + "  " + "-" * len(header[3]))
    return "\n".join(out)


def _rich_table(rows: list[Row], delivered_ids: set[str]) -> Any:
    from rich.table import Table

    table = Table(title="hookgate demo: every delivery scheme, verified by its receiver")
    table.add_column("scheme")
    table.add_column("endpoint", no_wrap=True)
    table.add_column("delivered", justify="right")
    table.add_column("receiver verdict")
    for r in rows:
        style = "green" if r.ok and not r.refused else ("red" if r.refused else "yellow")
        table.add_row(r.title, r.endpoint_id, str(r.delivered(delivered_ids)), f"[{style}]{r.verdict}[/]")
    return table


class Display:
    """A live-refreshing rich table on a terminal; otherwise plain text tables.

    Plain mode prints the table whenever it changed (``follow``) or only once at the end.
    """

    def __init__(self, rows: list[Row], delivered_ids: set[str], out: TextIO, *, follow: bool) -> None:
        self.rows = rows
        self.delivered_ids = delivered_ids
        self.out = out
        self.follow = follow
        self._live: Any = None
        self._last = ""
        if out.isatty():
            with contextlib.suppress(ImportError):
                from rich.console import Console
                from rich.live import Live

                self._live = Live(
                    _rich_table(rows, delivered_ids),
                    console=Console(file=out),
                    refresh_per_second=1 / REFRESH_S,
                )

    def __enter__(self) -> Display:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self.refresh()
            self._live.__exit__(None, None, None)
        else:
            self.refresh(final=True)

    def refresh(self, *, final: bool = False) -> None:
        if self._live is not None:
            self._live.update(_rich_table(self.rows, self.delivered_ids))
            return
        text = render_plain(self.rows, self.delivered_ids)
        if (final or self.follow) and text != self._last:
            self._last = text
            print(text + "\n", file=self.out, flush=True)

    def say(self, message: str) -> None:
        if self._live is not None:
            self._live.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=self.out, flush=True)
