"""Outbound delivery: everything hookgate sends to webhook endpoints."""

__all__: list[str] = []  # a namespace: its modules are imported by path
