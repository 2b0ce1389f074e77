"""``hookgate demo``: every delivery scheme hookgate speaks, working end to end in one process.

The package, one responsibility a module (arrows point down the list):

- ``tour``: the orchestration (server, receivers, endpoints, events) and the exit code
- ``display``: the table of verdicts, live on a terminal, plain otherwise
- ``scenarios``: one endpoint definition per scheme and how its receiver checks a request
- ``receivers``: the local verifying receivers (HTTP and mTLS) and the OAuth2 token endpoint
- ``pki``: the generated CA and certificates of the mTLS receiver and of hookgate's client
"""

from __future__ import annotations

from hookgate.demo.tour import run_demo

__all__ = ["run_demo"]
