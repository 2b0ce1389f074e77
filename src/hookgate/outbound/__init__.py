"""Outbound delivery: everything hookgate sends to webhook endpoints."""
