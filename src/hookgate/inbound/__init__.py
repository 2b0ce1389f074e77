"""Inbound: accept only genuine webhooks (verification pipeline, ASGI/WSGI middleware, the gateway).

Framework integrations are imported by path (``hookgate.inbound.asgi``, ``hookgate.inbound.wsgi``), so
importing this package loads no web framework.
"""

__all__: list[str] = []  # a namespace: its modules are imported by path
