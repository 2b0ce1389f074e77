"""Capture of hookgate's log events (structlog and standard-library records) as dicts, for tests."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import structlog

__all__ = ["CapturedLogs", "capture_logs"]


class CapturedLogs(list[dict[str, Any]]):
    """The captured events, in order: structlog event dicts (``event``, ``log_level`` and the fields) and
    standard-library records as ``{"event": message, "log_level", "logger"}``."""

    def events(self, name: str) -> list[dict[str, Any]]:
        """The entries whose ``event`` is ``name``."""
        return [entry for entry in self if entry.get("event") == name]


class _ListHandler(logging.Handler):
    def __init__(self, into: CapturedLogs) -> None:
        super().__init__(logging.DEBUG)
        self._into = into

    def emit(self, record: logging.LogRecord) -> None:
        entry: dict[str, Any] = {
            "event": record.getMessage(),
            "log_level": record.levelname.lower(),
            "logger": record.name,
        }
        if record.exc_info:
            entry["exc_info"] = record.exc_info
        self._into.append(entry)


def _cached_proxies(prefix: str) -> Iterator[Any]:
    """Module-level structlog proxies in ``prefix`` modules (``log = structlog.get_logger(...)``)."""
    proxy_type = structlog._config.BoundLoggerLazyProxy  # the type get_logger returns (not exported)
    for name, module in list(sys.modules.items()):
        if module is None or not (name == prefix or name.startswith(prefix + ".")):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, proxy_type):
                yield value


@contextlib.contextmanager
def capture_logs(
    *, modules: str = "hookgate", stdlib_loggers: Iterable[str] = ("hookgate",)
) -> Iterator[CapturedLogs]:
    """Collect log events while the block runs, as dicts in a `CapturedLogs` list.

    A process that called ``structlog.configure(cache_logger_on_first_use=True)`` (hookgate's CLI does)
    freezes each module's logger with the configuration of its first use, which a plain
    `structlog.testing.capture_logs` then misses. For the block, the frozen loggers of the ``modules``
    package are thawed (and frozen again as they were afterwards). Standard-library records of
    ``stdlib_loggers`` are captured too, at every level. Not for concurrent use from several threads.
    """
    captured = CapturedLogs()
    proxies = list(_cached_proxies(modules))
    frozen = {id(p): vars(p).pop("bind") for p in proxies if "bind" in vars(p)}
    handler = _ListHandler(captured)
    loggers = [logging.getLogger(name) for name in stdlib_loggers]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    # like structlog.testing.capture_logs: the configured list is changed in place, because loggers bound
    # before the block hold that list object
    configured = structlog.get_config()["processors"]
    before = list(configured)
    configured[:] = [_collect_into(captured)]
    try:
        yield captured
    finally:
        configured[:] = before
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
        for proxy in proxies:
            vars(proxy).pop("bind", None)  # frozen during the block: with the capture's configuration
            if id(proxy) in frozen:
                proxy.bind = frozen[id(proxy)]


def _collect_into(captured: CapturedLogs) -> structlog.types.Processor:
    """The only processor while capturing: keeps each event (with its level) and drops it."""

    def collect(logger: Any, method_name: str, event_dict: structlog.types.EventDict) -> Any:
        level = {"warn": "warning", "exception": "error"}.get(method_name, method_name)
        captured.append({**event_dict, "log_level": level})
        raise structlog.DropEvent

    return collect
