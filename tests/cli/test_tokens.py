"""`hookgate tokens` against a real ``hookgate serve``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result

from tests.cli.conftest import Server, ok_json

pytestmark = pytest.mark.slow


def test_tokens(cli: Callable[..., Result], server: Server) -> None:
    cli("apps", "create", "Tok", "--id", "tok-app")
    created = cli("tokens", "create", "ci", "--scope", "tok-app")
    assert created.exit_code == 0, created.stderr
    first_line, token_line = created.stdout.splitlines()
    assert first_line.startswith("created token tok_")
    assert first_line.endswith(" (ci, scope tok-app)")
    assert token_line.startswith("token (shown once, store it now): ")
    token_id = first_line.split()[2]
    secret = token_line.rsplit(" ", 1)[1]

    # the new token works, for its application only
    assert ok_json(cli("apps", "show", "tok-app", "--json", HOOKGATE_TOKEN=secret))["id"] == "tok-app"
    assert cli("tokens", "list", HOOKGATE_TOKEN=secret).exit_code == 1

    admin = ok_json(cli("tokens", "create", "ops", "--scope", "admin", "--json"))
    assert admin["token"]["scope"] == "admin"
    assert admin["secret"]

    listed = ok_json(cli("tokens", "list", "--json"))
    assert {token_id, admin["token"]["id"]} <= {t["id"] for t in listed}
    table = cli("tokens", "list")
    assert token_id in table.stdout
    assert "tok-app" in table.stdout
    assert secret not in table.stdout
    assert admin["secret"] not in table.stdout
    assert server.token not in table.stdout

    assert cli("tokens", "revoke", token_id).stdout == f"token {token_id} revoked\n"
    revoked = ok_json(cli("tokens", "revoke", admin["token"]["id"], "--json"))
    assert revoked["revoked_at"] is not None
    result = cli("apps", "show", "tok-app", HOOKGATE_TOKEN=secret)
    assert result.exit_code == 1
    assert "a valid bearer token is required" in result.stderr

    # errors: an unknown id, an unknown application, a missing scope
    result = cli("tokens", "revoke", "tok_nope")
    assert result.exit_code == 1
    assert result.stderr == "hookgate: no such resource [not_found]\n"
    assert cli("tokens", "create", "x", "--scope", "no-such-app").exit_code == 1
    assert cli("tokens", "create", "x").exit_code == 2
