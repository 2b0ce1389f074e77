"""Per-endpoint TLS: check client certificates and CA bundles on save, and build the client `SSLContext`.

Checks happen when an endpoint is saved, with a precise error (unparseable PEM, key not matching the
certificate, certificate expired or not yet valid, empty CA bundle), so a delivery never fails at 3 a.m.
for a reason that was visible at configuration time. Contexts are built once per endpoint version.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from hookgate.errors import ConfigError

__all__ = ["TLS_VERSIONS", "TlsSettings", "build_client_context", "check_ca_bundle", "check_client_cert"]

TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """An endpoint's TLS options: client certificate + key (mTLS), a CA bundle for their server, a floor."""

    client_cert: str | None = None
    client_key: str | None = None
    ca_bundle: str | None = None
    min_version: str = "1.2"

    def __repr__(self) -> str:
        return (
            f"TlsSettings(client_cert={'set' if self.client_cert else None}, "
            f"client_key={'<redacted>' if self.client_key else None}, "
            f"ca_bundle={'set' if self.ca_bundle else None}, min_version={self.min_version!r})"
        )

    def check(self, now: float) -> None:
        if self.min_version not in TLS_VERSIONS:
            raise ConfigError(f"tls min_version must be one of {', '.join(TLS_VERSIONS)}")
        if (self.client_cert is None) != (self.client_key is None):
            raise ConfigError("tls client_cert and client_key must be given together")
        if self.client_cert is not None and self.client_key is not None:
            check_client_cert(self.client_cert, self.client_key, now)
        if self.ca_bundle is not None:
            check_ca_bundle(self.ca_bundle, now)

    @property
    def is_default(self) -> bool:
        return self.client_cert is None and self.ca_bundle is None and self.min_version == "1.2"


def _load_certs(pem: str, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError(f"{what} is not a PEM certificate") from None
    if not certs:
        raise ConfigError(f"{what} contains no certificate")
    return certs


def _check_validity(cert: x509.Certificate, what: str, now: float) -> None:
    moment = datetime.fromtimestamp(now, UTC)
    if cert.not_valid_after_utc <= moment:
        raise ConfigError(f"{what} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC")
    if cert.not_valid_before_utc > moment:
        raise ConfigError(f"{what} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC")


def check_client_cert(cert_pem: str, key_pem: str, now: float) -> None:
    """The chain parses, its first certificate is current, and the private key is the certificate's."""
    chain = _load_certs(cert_pem, "tls client_cert")
    _check_validity(chain[0], "tls client_cert", now)
    try:
        key: PrivateKeyTypes = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ConfigError("tls client_key is not an unencrypted PEM private key") from None
    public = chain[0].public_key()
    ours = key.public_key()
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    if public.public_bytes(serialization.Encoding.DER, fmt) != ours.public_bytes(
        serialization.Encoding.DER, fmt
    ):
        raise ConfigError("tls client_key does not belong to client_cert")


def check_ca_bundle(pem: str, now: float) -> None:
    """Every certificate in the bundle parses, and at least one is currently valid."""
    certs = _load_certs(pem, "tls ca_bundle")
    moment = datetime.fromtimestamp(now, UTC)
    if not any(c.not_valid_before_utc <= moment < c.not_valid_after_utc for c in certs):
        raise ConfigError("tls ca_bundle has no currently valid certificate")


def build_client_context(settings: TlsSettings) -> ssl.SSLContext:
    """A verifying client context with the endpoint's floor, trust anchors and client certificate."""
    ctx = (
        ssl.create_default_context(cadata=settings.ca_bundle)
        if settings.ca_bundle
        else (ssl.create_default_context())
    )
    ctx.minimum_version = TLS_VERSIONS[settings.min_version]
    if settings.client_cert and settings.client_key:
        # load_cert_chain reads files only: write the pair to a private temporary file and remove it at once
        fd, path = tempfile.mkstemp(prefix="hookgate-mtls-", suffix=".pem")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(settings.client_key.strip() + "\n" + settings.client_cert.strip() + "\n")
            ctx.load_cert_chain(path)
        except ssl.SSLError as exc:
            raise ConfigError(f"tls client certificate cannot be loaded: {exc.reason or exc}") from None
        finally:
            os.unlink(path)
    return ctx
