"""`hookgate apps` against a real ``hookgate serve``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result

from tests.cli.conftest import ok_json

pytestmark = pytest.mark.slow


def test_apps(cli: Callable[..., Result]) -> None:
    created = ok_json(cli("apps", "create", "Shop", "--id", "shop-apps", "--json"))
    assert created["id"] == "shop-apps"
    result = cli("apps", "create", "Shop", "--id", "shop-apps")
    assert result.exit_code == 1
    assert "application shop-apps exists [conflict]" in result.stderr
    result = cli("apps", "create", "Other")
    assert result.exit_code == 0
    assert result.stdout.startswith("created application ")
    listed = ok_json(cli("apps", "list", "--json"))
    assert "shop-apps" in {a["id"] for a in listed}
    table = cli("apps", "list")
    assert table.exit_code == 0
    assert "shop-apps" in table.stdout
    assert "Shop" in table.stdout
    shown = ok_json(cli("apps", "show", "shop-apps", "--json"))
    assert shown == created
    details = cli("apps", "show", "shop-apps")
    assert "shop-apps" in details.stdout
    result = cli("apps", "create", "bad", "--id", "no spaces")
    assert result.exit_code == 1
    assert "validation_error" in result.stderr


def test_apps_update(cli: Callable[..., Result]) -> None:
    cli("apps", "create", "Before", "--id", "rename-app")
    result = cli("apps", "update", "rename-app", "--name", "After")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "renamed application rename-app to After"
    assert ok_json(cli("apps", "show", "rename-app", "--json"))["name"] == "After"
    assert cli("apps", "update", "no-such-app", "--name", "x").exit_code == 1
