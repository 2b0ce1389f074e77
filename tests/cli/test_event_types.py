"""`hookgate event-types` against a real ``hookgate serve``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result

from tests.cli.conftest import ok_json

pytestmark = pytest.mark.slow


def test_event_types(cli: Callable[..., Result]) -> None:
    cli("apps", "create", "ET", "--id", "et-app")
    saved = ok_json(
        cli("event-types", "create", "et-app", "order.created", "--description", "New order", "--json")
    )
    assert saved["name"] == "order.created"
    assert cli("event-types", "create", "et-app", "order.paid").stdout == "event type order.paid saved\n"
    listed = ok_json(cli("event-types", "list", "et-app", "--json"))
    assert {e["name"] for e in listed} == {"order.created", "order.paid"}
    table = cli("event-types", "list", "et-app")
    assert "New order" in table.stdout
