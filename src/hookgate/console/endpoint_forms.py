"""The endpoint create and edit forms as data: the choices each form offers with their plain-words help, the
mapping of a submitted form to the API's body (`EndpointIn`, `EndpointPatch`), and the values a form shows
(what the user typed, minus secrets, after a refusal; an endpoint's public configuration when editing).

Field names are flat and prefixed by section and type (``auth_oauth2_token_url``), so without JavaScript
every field can be on the page at once: only the fields of the chosen type are read, the others ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from hookgate.api.schemas import EndpointIn, EndpointOut, EndpointPatch
from hookgate.config.signing import SIGNATURE_SCHEMES
from hookgate.console.forms import Form
from hookgate.errors import ConfigError

__all__ = [
    "AUTH_CHOICES",
    "AUTH_METHODS",
    "KEY_SCHEMES",
    "PAYLOAD_CHOICES",
    "SCHEME_CHOICES",
    "SCHEME_OPTIONS",
    "SECRET_FIELDS",
    "TLS_VERSIONS",
    "endpoint_in",
    "endpoint_patch",
    "error_section",
    "scrub",
    "typed_values",
    "validation_message",
    "values_of",
]

SCHEME_HELP = {
    "standard-webhooks": "Signed with a shared secret (HMAC-SHA256) in the Standard Webhooks headers "
    "(webhook-id, webhook-timestamp, webhook-signature). Recommended.",
    "standard-webhooks-ed25519": "Standard Webhooks headers, signed with a private key; your receiver "
    "verifies with the public key, so it holds nothing that could forge a webhook.",
    "github": "Signed like GitHub: X-Hub-Signature-256 (HMAC-SHA256 of the body) with a shared secret.",
    "shopify": "Signed like Shopify: X-Shopify-Hmac-Sha256 with a shared secret.",
    "slack": "Signed like Slack: X-Slack-Signature v0= with a shared secret.",
    "stripe": "Signed like Stripe: Stripe-Signature t=…,v1=… with a shared secret you give (whsec_…).",
    "hmac": "Your own HMAC signature: choose the header, algorithm, encoding and prefix below; you give "
    "the secret.",
    "none": "Not signed: use only when the receiver authenticates hookgate another way (below, or mTLS).",
}
SCHEME_CHOICES = tuple((s, SCHEME_HELP[s]) for s in SIGNATURE_SCHEMES)
KEY_SCHEMES = frozenset({"standard-webhooks-ed25519"})
# (option, label, help) of the schemes that take options (`hookgate.schemes.registry.SIGN_OPTIONS`)
SCHEME_OPTIONS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "hmac": (
        ("header_name", "Signature header", "The header the signature is sent in (default X-Signature)."),
        ("algorithm", "Hash algorithm", "sha256 (default) or sha512."),
        ("encoding", "Encoding", "hex (default) or base64."),
        ("prefix", "Prefix", "Text put before the signature, for example sha256= (default none)."),
    ),
    "shopify": (
        ("shop_domain", "Shop domain", "Sent as X-Shopify-Shop-Domain, for example shop.myshopify.com."),
        ("api_version", "API version", "Sent as X-Shopify-API-Version, for example 2024-01."),
        ("topic_separator", "Topic separator", "Replaces the dots of the event type in X-Shopify-Topic."),
    ),
}
AUTH_CHOICES = (
    ("none", "None", "No credential besides the signature."),
    ("api_key", "API key", "A fixed key sent in a header you name (for example X-API-Key)."),
    ("basic", "Basic", "HTTP Basic authentication: a user name and a password."),
    ("bearer", "Bearer token", "A fixed token sent as Authorization: Bearer …"),
    ("jwt", "JWT (HS256)", "A short-lived token signed with a secret you share, made fresh for each request "
     "(with a hash of the body, so it cannot be reused for another one)."),
    ("oauth2", "OAuth2 client credentials", "hookgate gets an access token from your token URL with a "
     "client id and secret, keeps it until shortly before it expires, and sends it as a bearer token."),
)  # fmt: skip
AUTH_METHODS = (
    ("client_secret_basic", "In an Authorization: Basic header (client_secret_basic, the default)"),
    ("client_secret_post", "In the form body (client_secret_post)"),
)
PAYLOAD_CHOICES = (
    ("json", "JSON", "The event's JSON as published."),
    ("jws", "JWS (signed)", "The JSON as a compact JWS signed with hookgate's own key; your receiver checks "
     "it with the public keys published at /.well-known/jwks.json."),
    ("jwe", "JWE (encrypted)", "The JSON encrypted to your receiver's public key, so only it can read the "
     "event; optionally signed by hookgate first."),
)  # fmt: skip
JWE_ALGS = (
    ("", "Follow the key (RSA-OAEP-256 for RSA, ECDH-ES+A256KW for EC P-256)"),
    ("RSA-OAEP-256", "RSA-OAEP-256"),
    ("ECDH-ES+A256KW", "ECDH-ES+A256KW"),
)
TLS_VERSIONS = ("1.2", "1.3")

# Fields never written back into a page: what the user typed there is sent to the API and forgotten.
SECRET_FIELDS = frozenset(
    {
        "secret",
        "keys",
        "auth_api_key_key",
        "auth_basic_password",
        "auth_bearer_token",
        "auth_jwt_secret",
        "auth_oauth2_client_secret",
        "tls_client_key",
    }
)
# Each auth type's fields: (form suffix, API field, required); the credential is the one secret field.
AUTH_FIELDS: dict[str, tuple[tuple[str, bool], ...]] = {
    "none": (),
    "api_key": (("header", True), ("key", True)),
    "basic": (("username", True), ("password", True), ("header", False)),
    "bearer": (("token", True), ("header", False)),
    "jwt": (("secret", True), ("issuer", False), ("audience", False), ("lifetime", False), ("header", False)),
    "oauth2": (
        ("token_url", True),
        ("client_id", True),
        ("client_secret", True),
        ("scope", False),
        ("audience", False),
        ("auth_method", False),
        ("header", False),
    ),
}
_PUBLIC_FIELDS = (
    "url",
    "event_types_extra",
    "scheme",
    "timeout_s",
    "rate_limit_per_s",
    "max_concurrency",
    "retry_schedule",
    "auth_type",
    "payload_format",
    "payload_jwe_public_key",
    "payload_jwe_alg",
    "tls_client_cert",
    "tls_ca_bundle",
    "tls_min_version",
)
_FLAGS = ("allow_insecure", "payload_jwe_sign", "replace_auth", "replace_payload", "replace_tls")
_PEM = re.compile(r"-----BEGIN [^-]+-----.*?-----END [^-]+-----", re.DOTALL)


# -- form -> API body --


def _number(form: Form, name: str, what: str) -> float | None:
    text = form.get(name)
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{what} must be a number") from None


def _whole(form: Form, name: str, what: str) -> int | None:
    text = form.get(name)
    if not text:
        return None
    if not text.isdigit():
        raise ConfigError(f"{what} must be a whole number")
    return int(text)


def _schedule(text: str) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise ConfigError("the retry schedule must be seconds separated by commas, e.g. 5, 30, 300") from None


def _headers(form: Form) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw_name, raw_value in zip(form.all("header_name"), form.all("header_value"), strict=False):
        name, value = raw_name.strip(), raw_value.strip()
        if not name and not value:
            continue
        if not name:
            raise ConfigError(f"custom header value {value!r} has no header name")
        if name in out:
            raise ConfigError(f"custom header {name!r} appears twice")
        out[name] = value
    return out


def _event_types(form: Form) -> list[str]:
    extra = [t.strip() for t in form.get("event_types_extra").split(",") if t.strip()]
    return list(dict.fromkeys(form.all("event_type") + extra))


def _pem(form: Form, name: str) -> str:
    """A key or certificate text area: browsers send its lines ending in CRLF."""
    return form.get(name).replace("\r\n", "\n")


def _keys(text: str) -> list[str]:
    """Key texts: each PEM block, or the whole text (a JWK) when it has none."""
    if not text:
        return []
    return _PEM.findall(text) or [text]


def auth_section(form: Form) -> dict[str, Any] | None:
    """The ``auth`` section of the chosen type, from that type's fields only."""
    kind = form.get("auth_type") or "none"
    if kind not in AUTH_FIELDS:
        raise ConfigError(f"unknown authentication {kind!r}")
    if kind == "none":
        return None
    section: dict[str, Any] = {"type": kind}
    for name, _ in AUTH_FIELDS[kind]:
        value = form.get(f"auth_{kind}_{name}")
        if name == "lifetime":
            value = _whole(form, f"auth_{kind}_{name}", "the JWT lifetime")  # type: ignore[assignment]
        if value not in ("", None):
            section[name] = value
    # a missing required field is named by the API's own check ("auth (basic) needs password")
    return section


def payload_section(form: Form) -> dict[str, Any] | None:
    fmt = form.get("payload_format") or "json"
    if fmt == "json":
        return None
    if fmt == "jws":
        return {"format": "jws"}
    if fmt != "jwe":
        raise ConfigError(f"unknown payload format {fmt!r}")
    section: dict[str, Any] = {"format": "jwe", "public_key": _pem(form, "payload_jwe_public_key")}
    if form.get("payload_jwe_alg"):
        section["alg"] = form.get("payload_jwe_alg")
    if form.flag("payload_jwe_sign"):
        section["sign"] = True
    return section


def tls_section(form: Form) -> dict[str, Any] | None:
    section = {
        name: _pem(form, f"tls_{name}")
        for name in ("client_cert", "client_key", "ca_bundle")
        if form.get(f"tls_{name}")
    }
    version = form.get("tls_min_version") or "1.2"
    if version != "1.2":
        section["min_version"] = version
    return section or None


def _scheme_options(form: Form, scheme: str) -> dict[str, str] | None:
    options = {
        name: form.get(f"opt_{scheme}_{name}")
        for name, _, _ in SCHEME_OPTIONS.get(scheme, ())
        if form.get(f"opt_{scheme}_{name}")
    }
    return options or None


def endpoint_in(form: Form) -> EndpointIn:
    """A create form as the API's body (`pydantic.ValidationError` or `ConfigError` when malformed)."""
    scheme = form.get("scheme") or "standard-webhooks"
    body: dict[str, Any] = {
        "url": form.get("url"),
        "event_types": _event_types(form),
        "scheme": scheme,
        "scheme_options": _scheme_options(form, scheme),
        "headers": _headers(form) or None,
        "timeout_s": _number(form, "timeout_s", "the timeout") or 15.0,
        "rate_limit_per_s": _number(form, "rate_limit_per_s", "the rate limit") or None,
        "max_concurrency": _whole(form, "max_concurrency", "max concurrency"),
        "retry_schedule": _schedule(form.get("retry_schedule")),
        "allow_insecure": form.flag("allow_insecure"),
        "auth": auth_section(form),
        "payload": payload_section(form),
        "tls": tls_section(form),
    }
    if scheme in KEY_SCHEMES:
        body["keys"] = _keys(_pem(form, "keys"))
    elif scheme != "none" and form.get("secret"):
        body["secret"] = form.get("secret")
    return EndpointIn(**body)


def endpoint_patch(form: Form) -> EndpointPatch:
    """An edit form as the API's body: the plain fields always (empty limits mean "none"); the auth,
    payload and TLS sections only when their "change" box is ticked, since the API replaces a section
    as a whole and the form cannot show the stored secrets to send them back."""
    changes: dict[str, Any] = {
        "url": form.get("url"),
        "event_types": _event_types(form),
        "headers": _headers(form),
        "rate_limit_per_s": _number(form, "rate_limit_per_s", "the rate limit") or None,
        "max_concurrency": _whole(form, "max_concurrency", "max concurrency"),
        "retry_schedule": _schedule(form.get("retry_schedule")),
        "allow_insecure": form.flag("allow_insecure"),
    }
    timeout = _number(form, "timeout_s", "the timeout")
    if timeout is not None:
        changes["timeout_s"] = timeout
    if form.flag("replace_auth"):
        changes["auth"] = auth_section(form) or {"type": "none"}
    if form.flag("replace_payload"):
        changes["payload"] = payload_section(form) or {"format": "json"}
    if form.flag("replace_tls"):
        changes["tls"] = tls_section(form) or {}
    return EndpointPatch(**changes)


# -- what a form shows --


def typed_values(form: Form) -> dict[str, Any]:
    """What the user typed, to show again with an error: every field except `SECRET_FIELDS`."""
    values: dict[str, Any] = {name: form.get(name) for name in _PUBLIC_FIELDS}
    for kind, names in AUTH_FIELDS.items():
        for name, _ in names:
            field = f"auth_{kind}_{name}"
            if field not in SECRET_FIELDS:
                values[field] = form.get(field)
    for scheme, options in SCHEME_OPTIONS.items():
        for name, _, _ in options:
            values[f"opt_{scheme}_{name}"] = form.get(f"opt_{scheme}_{name}")
    for flag in _FLAGS:
        values[flag] = form.flag(flag)
    values["event_types"] = form.all("event_type")
    values["headers"] = [
        (n.strip(), v.strip())
        for n, v in zip(form.all("header_name"), form.all("header_value"), strict=False)
        if n.strip() or v.strip()
    ]
    return values


def _text(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def values_of(endpoint: EndpointOut, declared: Sequence[str]) -> dict[str, Any]:
    """An endpoint's public configuration as the edit form's values (the API view has no secret)."""
    auth = dict(endpoint.auth)
    kind = str(auth.pop("type", "none"))
    payload = dict(endpoint.payload)
    values: dict[str, Any] = {
        "url": endpoint.url,
        "event_types": [t for t in endpoint.event_types if t in declared],
        "event_types_extra": ", ".join(t for t in endpoint.event_types if t not in declared),
        "scheme": endpoint.scheme,
        "timeout_s": _text(endpoint.timeout_s),
        "rate_limit_per_s": _text(endpoint.rate_limit_per_s),
        "max_concurrency": _text(endpoint.max_concurrency),
        "retry_schedule": ", ".join(_text(s) for s in endpoint.retry_schedule or ()),
        "allow_insecure": endpoint.allow_insecure,
        "headers": list(endpoint.headers.items()),
        "auth_type": kind,
        "payload_format": str(payload.get("format", "json")),
        "payload_jwe_public_key": payload.get("public_key", ""),
        "payload_jwe_alg": payload.get("alg", ""),
        "payload_jwe_sign": bool(payload.get("sign")),
        "tls_client_cert": endpoint.tls.get("client_cert", ""),
        "tls_ca_bundle": endpoint.tls.get("ca_bundle", ""),
        "tls_min_version": endpoint.tls.get("min_version", "1.2"),
    }
    for name, value in auth.items():
        values[f"auth_{kind}_{name}"] = _text(value) if isinstance(value, int) else value
    for name, value in endpoint.scheme_options.items():
        values[f"opt_{endpoint.scheme}_{name}"] = value
    return values


# -- refusals --


def validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg")))
    return "; ".join(parts) or "the form is not valid"


def scrub(message: str, form: Form) -> str:
    """The message with any secret the user typed cut out (no check is meant to quote one; if one ever
    did, the page still would not)."""
    for name in SECRET_FIELDS:
        value = form.get(name)
        if len(value) >= 4:
            message = message.replace(value, "…")
    return message


def error_section(message: str) -> str:
    """Which part of the form a refusal is about, to show it there."""
    head = message.split(":", 1)[0].split(" ", 1)[0]
    for prefix, section in (
        ("auth", "auth"),
        ("payload", "payload"),
        ("tls", "tls"),
        ("secret", "signature"),
        ("keys", "signature"),
        ("scheme", "signature"),
        ("scheme_options", "signature"),
    ):
        if head.startswith(prefix):
            return section
    if message.startswith(("unknown signature scheme", "scheme ")):
        return "signature"
    return "top"
