"""Pure (sans-I/O) sign and verify sides of every scheme hookgate speaks, one module per family."""

from __future__ import annotations

from hookgate.schemes._base import Signed, Signer, Verified, Verifier, get_header

__all__ = ["Signed", "Signer", "Verified", "Verifier", "get_header"]
