"""`hookgate sources` against a real ``hookgate serve``: never a secret in the output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests.cli.conftest import ok_json

pytestmark = pytest.mark.slow


INBOUND_SECRET = "s3cret-inbound-value"
FORWARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SOURCE: dict[str, Any] = {
    "name": "cli-github",
    "scheme": "github",
    "secrets": [INBOUND_SECRET],
    "path": "/inbound/cli-github",
    "forward_to": "https://app.example/hooks/github",
    "forward_secret": FORWARD_SECRET,
    "event_id": "header:X-GitHub-Delivery",
}
SOURCE_TOML = f"""\
scheme = "github"
secrets = ["{INBOUND_SECRET}"]
path = "/inbound/cli-toml"
forward_to = "https://app.example/hooks/toml"
forward_secret = "{FORWARD_SECRET}"
"""


def _no_secrets(text: str) -> None:
    assert INBOUND_SECRET not in text
    assert FORWARD_SECRET.removeprefix("whsec_") not in text


def test_sources(cli: Callable[..., Result], tmp_path: Path) -> None:
    json_file = tmp_path / "source.json"
    json_file.write_text(json.dumps(SOURCE))
    created = cli("sources", "create", "--file", str(json_file))
    assert created.exit_code == 0, created.stderr
    assert created.stdout.startswith("created source src_")
    assert "(cli-github): /inbound/cli-github -> https://app.example/hooks/github" in created.stdout
    _no_secrets(created.stdout)
    source_id = created.stdout.split()[2]

    # TOML, top-level keys; the name from --name (the file has none)
    toml_file = tmp_path / "source.toml"
    toml_file.write_text(SOURCE_TOML)
    from_toml = ok_json(cli("sources", "create", "--file", str(toml_file), "--name", "cli-toml", "--json"))
    assert from_toml["name"] == "cli-toml"
    assert from_toml["path"] == "/inbound/cli-toml"
    assert not {"secrets", "keys", "forward_secret"} & set(from_toml)

    listed = ok_json(cli("sources", "list", "--json"))
    assert {source_id, from_toml["id"]} <= {s["id"] for s in listed}
    table = cli("sources", "list")
    assert table.exit_code == 0
    assert source_id in table.stdout
    assert "cli-toml" in table.stdout
    _no_secrets(table.stdout)

    shown = ok_json(cli("sources", "show", source_id, "--json"))
    assert shown["name"] == "cli-github"
    assert shown["event_id"] == "header:X-GitHub-Delivery"
    details = cli("sources", "show", source_id)
    assert "https://app.example/hooks/github" in details.stdout
    _no_secrets(details.stdout)

    # update: a file without a name keeps the current one
    json_file.write_text(
        json.dumps(
            {k: v for k, v in SOURCE.items() if k != "name"} | {"forward_to": "https://app.example/v2"}
        )
    )
    updated = ok_json(cli("sources", "update", source_id, "--file", str(json_file), "--json"))
    assert updated["name"] == "cli-github"
    assert updated["forward_to"] == "https://app.example/v2"
    assert updated["created_at"] == shown["created_at"]
    assert cli("sources", "update", source_id, "--file", str(json_file)).stdout == (
        f"updated source {source_id} (cli-github)\n"
    )

    assert ok_json(cli("sources", "delete", from_toml["id"], "--json")) == {
        "id": from_toml["id"],
        "deleted": True,
    }
    assert cli("sources", "delete", source_id).stdout == f"deleted source {source_id}\n"
    assert not {source_id, from_toml["id"]} & {s["id"] for s in ok_json(cli("sources", "list", "--json"))}


def test_source_errors(cli: Callable[..., Result], tmp_path: Path) -> None:
    # a bad file is a usage error
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{nope")
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("scheme = [")
    array = tmp_path / "array.json"
    array.write_text("[1]")
    nameless = tmp_path / "nameless.toml"
    nameless.write_text(SOURCE_TOML)
    for file, message in (
        (bad_json, "is not valid JSON"),
        (bad_toml, "is not valid TOML"),
        (array, "must hold a JSON object or TOML keys"),
        (tmp_path / "missing.json", "cannot read"),
        (nameless, "the source needs a name"),
    ):
        result = cli("sources", "create", "--file", str(file))
        assert result.exit_code == 2, file
        assert message in result.stderr, result.stderr
    assert cli("sources", "create").exit_code == 2  # --file is required

    # an unknown id: the API's message
    for args in (
        ("sources", "show", "src_nope"),
        ("sources", "delete", "src_nope"),
        ("sources", "update", "src_nope", "--file", str(nameless), "--name", "x"),
    ):
        result = cli(*args)
        assert result.exit_code == 1, args
        assert result.stderr == "hookgate: no such resource [not_found]\n", args

    # an invalid source: the 422 message names the field, and no secret is echoed
    no_secret = tmp_path / "no-secret.json"
    no_secret.write_text(json.dumps({k: v for k, v in SOURCE.items() if k != "forward_secret"}))
    result = cli("sources", "create", "--file", str(no_secret))
    assert result.exit_code == 1
    assert result.stderr.startswith("hookgate: the request is invalid (forward_secret: ")
    assert "[validation_error]" in result.stderr
    insecure = tmp_path / "insecure.json"
    insecure.write_text(json.dumps({**SOURCE, "name": "cli-insecure", "forward_to": "http://app.example/h"}))
    result = cli("sources", "create", "--file", str(insecure))
    assert result.exit_code == 1
    assert "must use https" in result.stderr
    assert "[invalid]" in result.stderr
    bad_path = tmp_path / "bad-path.json"
    bad_path.write_text(json.dumps({**SOURCE, "name": "cli-bad-path", "path": "/elsewhere"}))
    result = cli("sources", "create", "--file", str(bad_path))
    assert result.exit_code == 1
    assert "path: " in result.stderr
    for output in (result.stdout, result.stderr):
        _no_secrets(output)
