"""The management REST API (FastAPI): parse -> service call -> serialize, nothing else.

`hookgate.api.app.create_app` builds the application over a `hookgate.client.Hookgate`; `hookgate serve`
runs it with uvicorn next to the delivery workers.
"""

__all__: list[str] = []  # a namespace: its modules are imported by path
