"""The served OpenAPI document declares how to authenticate, so generated clients send the token."""

from __future__ import annotations

from tests.api.conftest import Api


async def test_bearer_security_scheme_on_every_api_route(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "HTTPBearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token, hgk_...: admin, or scoped to one app",
        }
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            secured = operation.get("security") == [{"HTTPBearer": []}]
            assert secured == path.startswith("/api/v1/"), (method, path)
