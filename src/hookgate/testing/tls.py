"""TLS for `RecordingReceiver`: server contexts from PEM text, and a server-side TLS protocol that refuses a
handshake the way most TLS servers do (with an alert the client gets to read) instead of asyncio's way."""

from __future__ import annotations

import os
import ssl
import tempfile
from asyncio import sslproto
from typing import Any

__all__ = ["AlertingTLS", "tls_server_context"]


def tls_server_context(
    cert_chain_pem: bytes | str,
    key_pem: bytes | str,
    *,
    client_ca_pem: bytes | str | None = None,
) -> ssl.SSLContext:
    """A server-side TLS context for `RecordingReceiver` from PEM text; with ``client_ca_pem`` it requires
    a client certificate issued by that CA (mutual TLS).

    (With trustme: ``leaf = ca.issue_cert("127.0.0.1")``, then ``leaf.cert_chain_pems`` joined and
    ``leaf.private_key_pem``.)
    """
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    as_bytes = [p.encode() if isinstance(p, str) else p for p in (cert_chain_pem, key_pem)]
    # load_cert_chain reads files only: a private temporary directory, removed at once
    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        for name, data in ((cert_file, as_bytes[0]), (key_file, as_bytes[1])):
            with open(name, "wb") as out:
                out.write(data)
        ctx.load_cert_chain(cert_file, key_file)
    if client_ca_pem is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(
            cadata=client_ca_pem.decode() if isinstance(client_ca_pem, bytes) else client_ca_pem
        )
    return ctx


#: How long a refused connection is kept open for the client to read the alert and close it first.
_LINGER_S = 5.0


class AlertingTLS(sslproto.SSLProtocol):
    """asyncio's server-side TLS, except for how a refused handshake ends.

    asyncio drops the alert OpenSSL wrote (a missing or untrusted client certificate, an unsupported
    version) and closes at once; under TLS 1.3, where the client's handshake is over before the server
    judges its certificate, the client then sees a bare reset or end of stream after its handshake. Most
    TLS servers instead send the alert, and a careful one reads on until the client closes, so that closing
    with unread request bytes does not send a reset that overtakes the alert. This protocol does both
    (reading and discarding for at most ``_LINGER_S``), so a client sees the alert wherever it is.
    """

    _refused = False

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        transport = self._transport
        if handshake_exc is None or transport is None:
            super()._on_handshake_complete(handshake_exc)
            return
        # the Python 3.11+ protocol's internals, which typeshed does not describe
        inner: Any = self
        if inner._handshake_timeout_handle is not None:
            inner._handshake_timeout_handle.cancel()
            inner._handshake_timeout_handle = None
        self._refused = True
        inner._set_state(sslproto.SSLProtocolState.UNWRAPPED)
        inner._process_outgoing()  # writes the alert OpenSSL put in the outgoing buffer
        # the client's end of stream closes the transport (eof_received in this state); this is the bound
        self._loop.call_later(_LINGER_S, transport.close)

    def buffer_updated(self, nbytes: int) -> None:
        if not self._refused:
            super().buffer_updated(nbytes)
