"""`SyncHookgate`, the generated sync twin of the `Hookgate` facade: complete, up to date, and working from
plain synchronous code on its own event-loop thread."""

from __future__ import annotations

import importlib.util
import inspect
import threading
from pathlib import Path
from types import ModuleType

import pytest

from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.crypto import generate_master_key
from hookgate.errors import ConfigError, NotFoundError
from hookgate.sync import SyncHookgate

URL = "https://receiver.example.com/hooks"
ROOT = Path(__file__).resolve().parent.parent


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_sync", ROOT / "tools" / "gen_sync.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_twin_is_what_the_generator_makes() -> None:
    generator = _generator()
    assert generator.TARGET.read_text(encoding="utf-8") == generator.render(), (
        "src/hookgate/sync.py is out of date: run python tools/gen_sync.py"
    )


def test_every_public_coroutine_of_the_facade_has_a_blocking_twin_of_the_same_signature() -> None:
    facade = {
        name: function
        for name, function in inspect.getmembers(Hookgate, inspect.iscoroutinefunction)
        if not name.startswith("_") and name != "open"
    }
    assert len(facade) > 30  # the whole service surface, not a sample
    for name, function in facade.items():
        twin = getattr(SyncHookgate, name, None)
        assert twin is not None, f"SyncHookgate.{name} is missing"
        assert not inspect.iscoroutinefunction(twin), name
        want = inspect.signature(function)
        got = inspect.signature(twin)
        assert list(got.parameters.values()) == list(want.parameters.values()), name
        if name != "close":
            assert got.return_annotation == want.return_annotation, name


def _sync_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "hookgate-sync"]


def test_sync_hookgate_from_plain_sync_code(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, master_key=generate_master_key())
    before = len(_sync_threads())
    with SyncHookgate(settings=settings) as client:
        assert isinstance(client.hookgate, Hookgate)
        app = client.create_application("Acme")
        created = client.create_endpoint(app.id, URL, event_types=["user.*"])
        assert created.secret is not None
        assert created.secret.startswith("whsec_")
        with pytest.raises(ConfigError, match="must use https"):
            client.create_endpoint(app.id, "http://receiver.example.com/")
        result = client.publish(app, "user.created", {"id": 7}, idempotency_key="u7")
        assert [d.endpoint_id for d in result.deliveries] == [created.endpoint.id]
        assert result.message.payload == b'{"id":7}'
        assert client.publish(app.id, "user.created", {"id": 7}, idempotency_key="u7").duplicate
        assert client.publish(app.id, "invoice.paid", {}).deliveries == ()
        with pytest.raises(ConfigError, match="event type"):
            client.publish(app.id, "bad type", {})
    assert (tmp_path / "hookgate.db").exists()
    assert len(_sync_threads()) == before
    client.close()  # closing twice is harmless
    # a call after close is refused plainly (the loop thread is the one `hookgate._loop_thread` bridge)
    with pytest.raises(RuntimeError, match="SyncHookgate is closed"):
        client.list_applications()


def test_sync_hookgate_failed_open_stops_its_thread(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, master_key=generate_master_key())
    before = len(_sync_threads())
    with pytest.raises(ConfigError, match="database URL must start with"):
        SyncHookgate("bogus://x", settings=settings)
    assert len(_sync_threads()) == before


def test_the_twin_reads_and_changes_records_through_the_facade(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, master_key=generate_master_key())
    with SyncHookgate(settings=settings) as client:
        app = client.create_application("Acme")
        created = client.create_endpoint(app.id, URL, event_types=["user.*"])
        assert [a.id for a in client.list_applications().items] == [app.id]
        assert client.rename_application(app.id, "Acme Inc").name == "Acme Inc"
        client.disable_endpoint(created.endpoint.id, reason="maintenance")
        endpoint = client.get_endpoint(created.endpoint.id)
        assert (endpoint.enabled, endpoint.disabled_reason) == (False, "maintenance")
        client.enable_endpoint(endpoint.id)
        assert client.get_endpoint(endpoint.id).enabled
        published = client.publish(app, "user.created", {"id": 1})
        assert client.get_message(published.message.id).payload == b'{"id":1}'
        assert [d.id for d in client.list_deliveries(published.message.id)] == [
            d.id for d in published.deliveries
        ]
        with pytest.raises(NotFoundError):
            client.get_endpoint("ep_missing")
