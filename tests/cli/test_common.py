"""What every API command shares: configuration (flags, environment, cli.toml), API errors, usage errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hookgate.cli import main
from tests.cli.conftest import Server, ok_json
from tests.cli.test_sources import SOURCE_TOML
from tests.support import refusing_port

pytestmark = pytest.mark.slow


def test_no_token_is_a_usage_error(cli: Callable[..., Result]) -> None:
    result = cli("apps", "list", HOOKGATE_TOKEN=None)
    assert result.exit_code == 2
    assert "no API token" in result.stderr


def test_config_file(cli: Callable[..., Result], server: Server, tmp_path: Path) -> None:
    config = tmp_path / "cli.toml"
    config.write_text(f'api_url = "{server.base}"\ntoken = "{server.token}"\n')
    result = cli(
        "apps", "list", "--json", HOOKGATE_TOKEN=None, HOOKGATE_API_URL=None, HOOKGATE_CLI_CONFIG=str(config)
    )
    assert isinstance(ok_json(result), list)
    # the default location under the home directory
    (tmp_path / ".config" / "hookgate").mkdir(parents=True)
    (tmp_path / ".config" / "hookgate" / "cli.toml").write_text(config.read_text())
    assert isinstance(
        ok_json(cli("apps", "list", "--json", HOOKGATE_TOKEN=None, HOOKGATE_API_URL=None)), list
    )
    config.write_text("token = [")
    result = cli("apps", "list", HOOKGATE_TOKEN=None, HOOKGATE_CLI_CONFIG=str(config))
    assert result.exit_code == 2
    assert "not valid TOML" in result.stderr


def test_bad_token_and_unreachable_api(cli: Callable[..., Result], server: Server) -> None:
    result = cli("apps", "list", "--token", "hgk_wrong")
    assert result.exit_code == 1
    assert result.stderr.startswith("hookgate: a valid bearer token is required")
    assert "hgk_wrong" not in result.output + result.stderr
    with refusing_port() as port:
        result = cli("apps", "list", "--api-url", f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    assert "cannot reach the API" in result.stderr
    assert server.token not in result.stderr


def test_unknown_app_reports_the_api_message(cli: Callable[..., Result]) -> None:
    for args in (
        ("apps", "show", "nope"),
        ("endpoints", "list", "nope"),
        ("send", "nope", "x.y", "--data", "{}"),
        ("messages", "list", "nope"),
    ):
        result = cli(*args)
        assert result.exit_code == 1, args
        assert result.stderr == "hookgate: no such resource [not_found]\n", args


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("endpoints", "update", "a", "e", "--timeout-s", "nan"), "nan is not a finite number"),
        (("endpoints", "update", "a", "e", "--rate-limit", "inf"), "inf is not a finite number"),
        (("endpoints", "update", "a", "e", "--timeout-s", "1e400"), "inf is not a finite number"),
        (("endpoints", "rotate-secret", "a", "e", "--grace-s", "inf"), "inf is not a finite number"),
        (("endpoints", "rotate-secret", "a", "e", "--grace-s", "-1"), "-1.0 is not in the range x>=0"),
        (("tail", "a", "--interval", "inf"), "inf is not a finite number"),
        (("recover", "a", "e", "--since", "nan"), "--since must be a finite number of Unix seconds"),
        (("recover", "a", "e", "--since", "1e400"), "--since must be a finite number of Unix seconds"),
        (("send", "a", "x.y", "--data", '{"n": NaN}'), "--data is not valid JSON: NaN is not a JSON number"),
        (("send", "a", "x.y", "--data", '{"n": 1e999}'), "--data is not valid JSON: 1e999 is not a finite"),
        (
            ("endpoints", "create", "a", "https://r.example/h", "--auth-json", '{"lifetime": Infinity}'),
            "--auth-json is not valid JSON: Infinity is not a JSON number",
        ),
        (("sources", "create", "--file", "{toml}"), "is not valid TOML: inf is not a finite number"),
        (("sources", "create", "--file", "{json}"), "is not valid JSON: NaN is not a JSON number"),
    ],
)
def test_non_finite_numbers_are_usage_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    # refused before any request (the HTTP client could not even encode them): no server needed
    toml = tmp_path / "source.toml"
    toml.write_text(SOURCE_TOML + "rate_limit_per_s = inf\n")
    as_json = tmp_path / "source.json"
    as_json.write_text('{"name": "n", "rate_limit_per_s": NaN}')
    env = {"HOOKGATE_API_URL": "http://127.0.0.1:9", "HOOKGATE_TOKEN": "hgk_x", "HOME": str(tmp_path)}
    argv = [{"{toml}": str(toml), "{json}": str(as_json)}.get(a, a) for a in args]
    result = CliRunner().invoke(main, argv, env=env, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
