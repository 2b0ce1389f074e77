"""`configure_logging`: one JSON object per line, a logged exception as its plain traceback text."""

from __future__ import annotations

import json

import pytest
import structlog

from hookgate.logs import configure_logging


def fail() -> None:
    raise RuntimeError("the cause")


def test_a_logged_exception_carries_its_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt="json", level="info")  # here: the logger factory binds sys.stderr as it is now
    try:
        log = structlog.get_logger("hookgate.test")  # a fresh logger: cached ones keep their old stream
        try:
            fail()
        except RuntimeError:
            log.exception("test.failed", source="acme")
    finally:
        structlog.reset_defaults()
    (line,) = capsys.readouterr().err.splitlines()
    document = json.loads(line)
    assert document["event"] == "test.failed"
    assert document["level"] == "error"
    assert "exc_info" not in document
    assert document["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: the cause" in document["exception"]
