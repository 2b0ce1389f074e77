"""Lookups, copies and paging for the in-memory store: listings page exactly like the SQL stores' queries."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from hookgate.errors import NotFoundError
from hookgate.models import Attempt
from hookgate.store._rows import page_of
from hookgate.store.base import Page

__all__ = ["attempts_page", "copied", "existing", "newest_first"]

T = TypeVar("T")


def copied(record: T) -> T:
    """A copy to hand out or keep, so callers cannot mutate the store's state behind it."""
    return copy.copy(record)


def existing(table: dict[str, T], key: str, what: str) -> T:
    """``table[key]``, or `NotFoundError` naming ``what``."""
    try:
        return table[key]
    except KeyError:
        raise NotFoundError(f"{what} {key!r} not found") from None


class _Listed(Protocol):
    created_at: float
    id: str


L = TypeVar("L", bound=_Listed)


def newest_first(
    kind: str, records: Iterable[L], after: tuple[float, str], limit: int, keep: Callable[[L], bool]
) -> Page[L]:
    """A page of the kept records, newest first by (created_at, id), strictly after the cursor's position."""
    found = sorted(
        (r for r in records if (r.created_at, r.id) < after and keep(r)),
        key=lambda r: (r.created_at, r.id),
        reverse=True,
    )
    return page_of(kind, [copied(r) for r in found[: limit + 1]], limit, lambda r: (r.created_at, r.id))


def attempts_page(attempts: Iterable[Attempt], before: int, limit: int) -> Page[Attempt]:
    """A page of attempts, newest (highest id) first, with ids strictly below ``before``."""
    found = sorted(
        (a for a in attempts if a.id is not None and a.id < before), key=lambda a: a.id or 0, reverse=True
    )
    return page_of("att", [copied(a) for a in found[: limit + 1]], limit, lambda a: (a.id or 0,))
