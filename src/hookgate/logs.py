"""Logging setup for hookgate processes: structlog, one JSON object (or a console line) per event.

Library modules only call ``structlog.get_logger(...)``; configuring output is the process's job (the CLI
calls `configure_logging`). Log lines carry ids, origins, status codes and error classes, never secrets,
signatures, headers or bodies: the call sites choose their fields with that rule, and tests grep for it.
"""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["configure_logging"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(*, fmt: str = "json", level: str = "info") -> None:
    """Send structlog events to stderr as JSON lines (``fmt="json"``) or readable console lines."""
    if level not in _LEVELS:
        raise ValueError(f"log level must be one of {', '.join(_LEVELS)}")
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # a logged exception becomes its plain traceback text ("exception"): no rich frames with locals
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries log through the standard library (asyncpg warns while it reconnects its pool during a
    # database outage): when the application configured no handler, Python prints their warnings through
    # logging.lastResort, which is given the same format, so stderr stays one event per line.
    if logging.lastResort is not None:
        logging.lastResort.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
                foreign_pre_chain=[
                    structlog.stdlib.add_log_level,
                    structlog.stdlib.add_logger_name,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                ],
            )
        )
