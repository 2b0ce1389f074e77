"""The management API's routes, one `fastapi.APIRouter` per resource; `hookgate.api.app` includes them all."""

__all__: list[str] = []  # one module per resource, imported by path
