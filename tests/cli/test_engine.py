"""The delivery-engine commands: `hookgate migrate` and `hookgate worker` (a real process, SIGTERM stop)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from standardwebhooks import Webhook

from hookgate.cli import main
from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.crypto import SecretBox, generate_master_key, parse_master_keys
from hookgate.errors import ConfigError
from hookgate.store.sqlite import SQLiteStore
from hookgate.testing import RecordingReceiver
from tests.cli.conftest import HOOKGATE_ENV, child_env
from tests.support import postgres_dsn

# every migration from the first, in order ("applied migrations 1" while there is only one)
APPLIED = re.compile(r"applied migrations 1(, \d+)*")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in HOOKGATE_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


async def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hookgate",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env or child_env(),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


# -- migrate -------------------------------------------------------------------------------------------


def test_migrate_fresh_sqlite_then_up_to_date(runner: CliRunner, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = runner.invoke(main, ["migrate", "--data-dir", str(data_dir)])
    assert first.exit_code == 0, first.output
    assert APPLIED.fullmatch(first.stdout.strip()), first.stdout
    assert (data_dir / "hookgate.db").exists()
    second = runner.invoke(main, ["migrate", "--data-dir", str(data_dir)])
    assert second.exit_code == 0, second.output
    assert second.stdout.strip() == "database is up to date"


def test_migrate_with_explicit_sqlite_url(runner: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "nested" / "x.db"
    result = runner.invoke(main, ["migrate", "--database-url", f"sqlite:///{db}"])
    assert result.exit_code == 0, result.output
    assert APPLIED.fullmatch(result.stdout.strip()), result.stdout
    assert db.exists()


def test_migrate_reads_the_environment(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["migrate"], env={"HOOKGATE_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hookgate.db").exists()


def test_migrate_memory_url_has_nothing_to_do(runner: CliRunner) -> None:
    result = runner.invoke(main, ["migrate", "--database-url", "memory://"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "database is up to date"


def test_migrate_unknown_database_url_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["migrate", "--database-url", "foo://x"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "hookgate: " in result.stderr
    assert "database_url must start with sqlite://, postgresql:// or memory://" in result.stderr


def test_migrate_bad_config_file_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "hookgate.toml"
    config.write_text("[hookgate]\nno_such_setting = 1\n")
    result = runner.invoke(main, ["migrate", "--config", str(config)])
    assert result.exit_code == 2
    assert "unknown setting 'no_such_setting'" in result.stderr


def test_migrate_unreachable_postgres_exits_1(runner: CliRunner) -> None:
    result = runner.invoke(main, ["migrate", "--database-url", "postgresql://postgres@127.0.0.1:1/none"])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert "hookgate: cannot connect to PostgreSQL" in result.stderr
    assert "Traceback" not in result.output


def test_migrate_unwritable_sqlite_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    not_a_db = tmp_path / "hookgate.db"
    not_a_db.write_bytes(b"this is not an SQLite database" * 100)
    result = runner.invoke(main, ["migrate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "cannot migrate SQLite database" in result.stderr


@pytest.mark.postgres
async def test_migrate_postgres_fresh_schema() -> None:
    async with contextlib.aclosing(postgres_dsn()) as dsns:
        async for dsn in dsns:
            code, out, err = await run_cli("migrate", "--database-url", dsn)
            assert code == 0, err
            assert APPLIED.fullmatch(out.strip()), out
            code, out, err = await run_cli("migrate", "--database-url", dsn)
            assert code == 0, err
            assert out.strip() == "database is up to date"


def test_python_dash_m_hookgate_runs_the_cli(tmp_path: Path) -> None:
    code, out, err = asyncio.run(run_cli("migrate", "--data-dir", str(tmp_path)))
    assert code == 0, err
    assert APPLIED.fullmatch(out.strip()), out


def test_worker_bad_settings_exit_2(runner: CliRunner) -> None:
    result = runner.invoke(main, ["worker", "--database-url", "foo://x"])
    assert result.exit_code == 2
    assert "database_url must start with" in result.stderr


async def test_worker_settings_with_external_database_need_a_master_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql://postgres@127.0.0.1:1/none")
    hg: Hookgate | None = None
    try:
        with pytest.raises(ConfigError, match="no master key"):
            hg = await Hookgate.open(settings=settings)
    finally:
        if hg is not None:
            await hg.close()
        assert not (tmp_path / "master.key").exists()


# -- worker ----------------------------------------------------------------------------------------------


async def test_worker_delivers_and_stops_on_sigterm(tmp_path: Path, receiver: RecordingReceiver) -> None:
    receiver.respond = 204
    master_key = generate_master_key()
    box = SecretBox(parse_master_keys(master_key))

    store = await SQLiteStore.open(tmp_path / "hookgate.db")
    hg = Hookgate(store, box)
    try:
        app = await hg.create_application("Acme")
        created = await hg.create_endpoint(
            app.id, receiver.url, allow_insecure=True, headers={"X-Tenant": "acme"}
        )
        published = await hg.publish(app.id, "user.created", {"id": 42, "name": "Zoë"})
    finally:
        await hg.close()
    secret = created.secret
    assert secret is not None
    assert len(published.deliveries) == 1

    env = child_env(HOOKGATE_MASTER_KEY=master_key, HOOKGATE_SSRF_ALLOWLIST="127.0.0.0/8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hookgate",
        "worker",
        "--data-dir",
        str(tmp_path),
        "--concurrency",
        "4",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        try:
            await receiver.wait_for_async(1, timeout=60)
        except TimeoutError:
            proc.kill()
            _, err = await proc.communicate()
            pytest.fail(f"worker delivered nothing; stderr:\n{err.decode()}")
        # let the worker record the result before asking it to stop
        await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    stderr = err.decode()
    assert proc.returncode == 0, stderr
    assert out == b""

    # exactly the published message arrived, signed so that the reference library accepts it
    assert receiver.count == 1
    body, headers = receiver.requests[0].body, receiver.requests[0].headers
    assert body == '{"id":42,"name":"Zoë"}'.encode()
    assert headers["webhook-id"] == published.message.id
    assert headers["X-Tenant"] == "acme"
    assert headers["Content-Type"] == "application/json"
    assert Webhook(secret).verify(body, headers) == {"id": 42, "name": "Zoë"}

    # one JSON object per stderr line, with start, the attempt, and stop events
    events: list[dict[str, Any]] = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    names = [e["event"] for e in events]
    assert "worker.start" in names
    assert names[-1] == "worker.stop"
    stop = events[-1]
    assert stop["delivered"] == 1
    assert stop["dead"] == 0
    assert stop["level"] == "info"
    attempts = [e for e in events if e["event"] == "delivery.attempt"]
    assert len(attempts) == 1
    assert attempts[0]["status_code"] == 204
    assert attempts[0]["message_id"] == published.message.id
    # logs never carry secrets, signatures or the master key
    assert secret not in stderr
    assert secret[len("whsec_") :] not in stderr
    assert headers["webhook-signature"] not in stderr
    assert master_key not in stderr

    # the outcome is durable in the store
    store = await SQLiteStore.open(tmp_path / "hookgate.db")
    try:
        deliveries = await store.list_deliveries(published.message.id)
        assert [d.status for d in deliveries] == ["delivered"]
        attempts_rows = await store.list_attempts(deliveries[0].id)
        assert [a.status_code for a in attempts_rows] == [204]
    finally:
        await store.close()


async def test_idle_worker_stops_on_sigint(tmp_path: Path) -> None:
    master_key = generate_master_key()
    env = child_env(HOOKGATE_MASTER_KEY=master_key)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hookgate",
        "worker",
        "--data-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stderr is not None
        line = await asyncio.wait_for(proc.stderr.readline(), 60)
        assert json.loads(line)["event"] == "worker.start"
        proc.send_signal(signal.SIGINT)
        _, rest = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    assert proc.returncode == 0, rest.decode()
    events = [json.loads(line)["event"] for line in rest.decode().splitlines() if line.strip()]
    assert events[-1] == "worker.stop"
