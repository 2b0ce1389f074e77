"""The demo's token endpoint and receivers: what they accept and refuse."""

from __future__ import annotations

import base64
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookgate.demo.pki import CLIENT_CN
from hookgate.demo.receivers import TokenIssuer, peer_common_name, receiving


def test_token_issuer() -> None:
    issuer = TokenIssuer("client id", "s3:cr/t")
    basic = "Basic " + base64.b64encode(b"client+id:s3%3Acr%2Ft").decode()
    status, answer = issuer.issue(basic, {"grant_type": "client_credentials"}, now=time.time())
    assert status == 200
    token = answer["access_token"]
    assert issuer.check({"authorization": f"Bearer {token}"}, b"", None)
    with pytest.raises(PermissionError):
        issuer.check({"authorization": "Bearer forged"}, b"", None)
    wrong = "Basic " + base64.b64encode(b"client+id:nope").decode()
    assert issuer.issue(wrong, {"grant_type": "client_credentials"}, now=0)[0] == 401
    assert issuer.issue(basic, {"grant_type": "password"}, now=0)[0] == 400
    issuer.issued[token] = time.time() - 1
    with pytest.raises(PermissionError, match="expired"):
        issuer.check({"authorization": f"Bearer {token}"}, b"", None)


@dataclass
class Seen:
    """A scenario that accepts one body and remembers the TLS peer of each request."""

    body: bytes
    peers: list[str | None] = field(default_factory=list)

    def record(self, headers: Mapping[str, str], body: bytes, peercert: Mapping[str, Any] | None) -> bool:
        self.peers.append(peer_common_name(peercert))
        return body == self.body


async def test_receivers_answer_with_the_scenarios_verdict() -> None:
    seen = Seen(b"good")
    issuer = TokenIssuer("client", "secret")
    async with receiving({"row": seen}, issuer) as at, httpx.AsyncClient() as client:
        assert (await client.post(f"{at.http_base}/hook/row", content=b"good")).status_code == 200
        assert (await client.post(f"{at.http_base}/hook/row", content=b"bad")).status_code == 401
        assert (await client.post(f"{at.http_base}/hook/other", content=b"good")).status_code == 404
        token = await client.post(
            at.token_url, data={"grant_type": "client_credentials"}, auth=("client", "secret")
        )
        assert token.status_code == 200
        assert token.json()["access_token"] in issuer.issued
    assert seen.peers == [None, None]  # plain HTTP: no client certificate


async def test_mtls_receiver_requires_the_demo_client_certificate() -> None:
    seen = Seen(b"good")
    async with receiving({"row": seen}, TokenIssuer("client", "secret")) as at:
        pki = at.pki
        trust = ssl.create_default_context(cadata=pki.ca_cert)
        with tempfile.TemporaryDirectory() as tmp:
            pem = Path(tmp) / "client.pem"
            pem.write_text(pki.client_key + pki.client_cert, encoding="ascii")
            with_cert = ssl.create_default_context(cadata=pki.ca_cert)
            with_cert.load_cert_chain(pem)
        async with httpx.AsyncClient(verify=with_cert) as client:
            assert (await client.post(f"{at.https_base}/hook/row", content=b"good")).status_code == 200
        async with httpx.AsyncClient(verify=trust) as client:
            with pytest.raises(httpx.HTTPError):  # the handshake fails without a client certificate
                await client.post(f"{at.https_base}/hook/row", content=b"good")
    assert seen.peers == [CLIENT_CN]
