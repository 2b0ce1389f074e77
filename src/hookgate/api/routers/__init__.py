"""The management API's routes, one `fastapi.APIRouter` per resource; `hookgate.api.app` includes them all."""
