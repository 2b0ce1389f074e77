"""The management REST API (FastAPI): parse -> service call -> serialize, nothing else.

`hookgate.api.app.create_app` builds the application over a `hookgate.client.Hookgate`; `hookgate serve`
runs it with uvicorn next to the delivery workers.
"""
