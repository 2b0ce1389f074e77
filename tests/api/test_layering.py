"""The API is a front end over the `Hookgate` services: it never reaches the store or reads the wall clock.

A source scan of every module of `hookgate.api` (through its syntax tree, so docstrings do not count), and
the consequence checked through the routes: every time the API stamps comes from the services' clock.
"""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest

import hookgate.api
from hookgate.api.app import create_app
from hookgate.api.serve import bootstrap
from hookgate.client import Hookgate
from hookgate.crypto import SecretBox
from hookgate.store.memory import MemoryStore
from tests.api.conftest import BASE

V1 = "/api/v1"
API_DIR = Path(hookgate.api.__file__).parent
MODULES = sorted(API_DIR.rglob("*.py"))
# an interval clock (the inbound router's refresh) is not the time records are stamped with
ALLOWED_TIME = frozenset({"monotonic"})


def offences(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "store":
            found.append(f"line {node.lineno}: .store (call a Hookgate method)")
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "time"
            and node.attr not in ALLOWED_TIME
        ):
            found.append(f"line {node.lineno}: time.{node.attr} (the services' clock stamps records)")
        if isinstance(node, ast.ImportFrom) and node.module in {"time", "datetime"}:
            found.append(f"line {node.lineno}: from {node.module} import ...")
        if isinstance(node, ast.Import) and any(alias.name == "datetime" for alias in node.names):
            found.append(f"line {node.lineno}: import datetime")
    return found


def test_the_scan_sees_every_module() -> None:
    names = {str(m.relative_to(API_DIR)) for m in MODULES}
    assert {"app.py", "deps.py", "errors.py", "schemas.py", "routers/sources.py"} <= names


@pytest.mark.parametrize("module", MODULES, ids=lambda m: str(m.relative_to(API_DIR)))
def test_no_store_access_and_no_wall_clock(module: Path) -> None:
    assert offences(ast.parse(module.read_text())) == []


@pytest.mark.parametrize(
    "source",
    [
        "hg.store.get_application(x)",
        "await request.app.state.hookgate.store.list_sources()",
        "import time\nnow = time.time()",
        "from time import time",
        "import datetime",
    ],
)
def test_the_scan_finds_what_it_forbids(source: str) -> None:
    assert offences(ast.parse(source))


async def test_every_stamp_comes_from_the_injected_clock() -> None:
    """Event types, revocations and sources used to be stamped with time.time() past the services' clock."""
    now = 1_000_000.0
    hg = Hookgate(MemoryStore(), SecretBox({"k1": b"\x01" * 32}), clock=lambda: now)
    token = await bootstrap(hg)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(hg)),
            base_url=BASE,
            headers={"Authorization": f"Bearer {token}"},
        ) as c:
            app = await c.post(f"{V1}/applications", json={"name": "shop", "id": "shop"})
            assert app.json()["created_at"] == now
            event_type = await c.put(f"{V1}/applications/shop/event-types", json={"name": "order.created"})
            assert event_type.json()["created_at"] == now
            created = await c.post(f"{V1}/tokens", json={"name": "t", "scope": "shop"})
            assert created.json()["token"]["created_at"] == now
            revoked = await c.post(f"{V1}/tokens/{created.json()['token']['id']}/revoke")
            assert revoked.json()["revoked_at"] == now
            source = await c.post(
                f"{V1}/sources",
                json={
                    "name": "github",
                    "scheme": "github",
                    "secrets": ["s3cr3t-value"],
                    "path": "/inbound/github",
                    "forward_to": "https://example.com/in",
                    "forward_secret": "fwd-secret",
                },
            )
            assert (source.json()["created_at"], source.json()["updated_at"]) == (now, now)
            assert (await c.get("/readyz")).status_code == 200
    finally:
        await hg.close()
