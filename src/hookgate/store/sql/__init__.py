"""SQL files of the stores: numbered migrations, the declared schema and named queries, per dialect."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

__all__ = ["Migration", "declared_schema", "load_queries", "migrations"]

_NAME = re.compile(r"^-- name: ([a-z_]+)\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def _read(dialect: str, filename: str) -> str:
    return resources.files(__package__).joinpath(dialect, filename).read_text(encoding="utf-8")


def load_queries(dialect: str, filename: str = "queries.sql") -> dict[str, str]:
    """The ``-- name: x`` blocks of ``<dialect>/<filename>`` (``queries.sql`` or ``inbound.sql``), by name.

    For ``queries.sql`` they include ``common/queries.sql``, the queries every dialect runs as written; a
    dialect cannot redefine one of them.
    """
    queries: dict[str, str] = {}
    sources = (
        [("common", filename), (dialect, filename)] if filename == "queries.sql" else [(dialect, filename)]
    )
    for folder, name_of_file in sources:
        parts = _NAME.split(_read(folder, name_of_file))
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in queries:
                raise RuntimeError(f"query {name} is defined twice ({folder}/{filename})")
            queries[name] = body.strip()
    return queries


def migrations(dialect: str) -> list[Migration]:
    """Numbered migrations of a dialect, in order; numbers are unique and start at 1.

    A number may be missing: both runners check each migration's version on its own (not the highest one
    applied), so a migration that lands after a later-numbered one is still applied, and a number reserved
    by work on another branch (0011 while 0009 and 0010 are being written) breaks nothing.
    """
    found = []
    for entry in resources.files(__package__).joinpath(dialect).iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if not versions or versions[0] != 1 or len(set(versions)) != len(versions):
        raise RuntimeError(
            f"{dialect} migrations are not uniquely numbered from 1: {[m.name for m in found]}"
        )
    return found


def declared_schema(dialect: str) -> str:
    return _read(dialect, "schema.sql")
