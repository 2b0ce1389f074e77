"""The endpoint create and edit forms over HTTP, through to the stored typed configuration: one endpoint per
auth, payload and TLS variant made by submitting the form as a browser without JavaScript does (every
field of every type filled in, only the chosen type's kept); a refusal shows the form again (422) with what
was typed and no secret; a URL-only edit keeps the stored credentials; the portal's forms need
``manage_endpoints``."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import trustme

from hookgate.config.sections import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    JsonPayload,
    JwePayload,
    JwsPayload,
    JwtAuth,
    NoAuth,
    OAuth2Auth,
    TlsConfig,
)
from hookgate.keys import generate_key, load_key, public_pem
from hookgate.vault import open_secrets
from tests.console.conftest import Api
from tests.console.helpers import form_fields, open_portal, portal_link, sign_in

URL = "https://acme.example/hook"
_CREATED = re.compile(r'href="/(?:ui/apps/acme|portal)/endpoints/(ep_[^"]+)"')


@pytest.fixture(scope="module")
def pki() -> dict[str, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("hookgate-client.example")
    return {
        "cert": cert.cert_chain_pems[0].bytes().decode("ascii"),
        "key": cert.private_key_pem.bytes().decode("ascii"),
        "ca": ca.cert_pem.bytes().decode("ascii"),
        "jwe": public_pem(load_key(generate_key("rsa"), private=True)),
    }


EVERY_AUTH_FIELD = {
    "auth_api_key_header": "X-Key",
    "auth_api_key_key": "apikey-secret-1",
    "auth_basic_username": "hook",
    "auth_basic_password": "basic-secret-1",
    "auth_bearer_token": "bearer-secret-1",
    "auth_jwt_secret": "jwt-secret-value-1-at-least-32-bytes",
    "auth_jwt_issuer": "hookgate",
    "auth_jwt_audience": "acme",
    "auth_jwt_lifetime": "90",
    "auth_oauth2_token_url": "https://auth.example/token",
    "auth_oauth2_client_id": "acme-client",
    "auth_oauth2_client_secret": "oauth-secret-1",
    "auth_oauth2_scope": "hooks",
    "auth_oauth2_audience": "https://acme.example",
    "auth_oauth2_auth_method": "client_secret_post",
}
SECRETS = (
    "apikey-secret-1",
    "basic-secret-1",
    "bearer-secret-1",
    "jwt-secret-value-1-at-least-32-bytes",
    "oauth-secret-1",
)
AUTH_CASES = {
    "none": (NoAuth(), None),
    "api_key": (ApiKeyAuth(header="X-Key"), "apikey-secret-1"),
    "basic": (BasicAuth(username="hook"), "basic-secret-1"),
    "bearer": (BearerAuth(), "bearer-secret-1"),
    "jwt": (JwtAuth(issuer="hookgate", audience="acme", lifetime=90), "jwt-secret-value-1-at-least-32-bytes"),
    "oauth2": (
        OAuth2Auth(
            token_url="https://auth.example/token",
            client_id="acme-client",
            scope="hooks",
            audience="https://acme.example",
            auth_method="client_secret_post",
        ),
        "oauth-secret-1",
    ),
}


async def dashboard(api: Api, client: httpx.AsyncClient) -> str:
    await api.hg.create_application("acme", app_id="acme")
    await api.hg.put_event_type("acme", "order.created", description="An order")
    return await sign_in(client, api.token)


async def create(client: httpx.AsyncClient, base: str, data: dict[str, Any]) -> str:
    page = await client.post(f"{base}/endpoints", data=data)
    assert page.status_code == 200, page.text
    assert "Endpoint added" in page.text
    found = _CREATED.search(page.text)
    assert found is not None
    return found.group(1)


def sealed(api: Api, endpoint: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    assert api.hg.box is not None
    for entry in open_secrets(api.hg.box, endpoint.id, endpoint.secrets_sealed).entries:
        out.setdefault(entry.kind, []).append(entry.value)
    return out


@pytest.mark.parametrize("kind", sorted(AUTH_CASES))
async def test_each_auth_type_through_the_form(
    api: Api, browser_client: httpx.AsyncClient, kind: str
) -> None:
    csrf = await dashboard(api, browser_client)
    data = {"csrf": csrf, "url": URL, "auth_type": kind, "scheme": "github", **EVERY_AUTH_FIELD}
    endpoint = await api.hg.get_endpoint(await create(browser_client, "/ui/apps/acme", data))
    expected, secret = AUTH_CASES[kind]
    assert endpoint.config.auth == expected
    assert endpoint.config.scheme == "github"
    assert sealed(api, endpoint).get("auth") == ([secret] if secret else None)


@pytest.mark.parametrize("fmt", ["json", "jws", "jwe"])
async def test_each_payload_format_through_the_form(
    api: Api, browser_client: httpx.AsyncClient, pki: dict[str, str], fmt: str
) -> None:
    csrf = await dashboard(api, browser_client)
    data = {
        "csrf": csrf,
        "url": URL,
        "payload_format": fmt,
        "payload_jwe_public_key": pki["jwe"],
        "payload_jwe_alg": "RSA-OAEP-256",
        "payload_jwe_sign": "on",
    }
    endpoint = await api.hg.get_endpoint(await create(browser_client, "/ui/apps/acme", data))
    expected = {
        "json": JsonPayload(),
        "jws": JwsPayload(),
        "jwe": JwePayload(public_key=pki["jwe"].strip(), alg="RSA-OAEP-256", sign=True),
    }[fmt]
    assert endpoint.config.payload == expected


async def test_tls_and_the_plain_fields_through_the_portal_form(
    api: Api, browser_client: httpx.AsyncClient, pki: dict[str, str]
) -> None:
    app = await api.hg.create_application("acme", app_id="acme")
    link = await portal_link(api.client, api.token, app.id, ["view", "manage_endpoints"])
    csrf = await open_portal(browser_client, str(link["url"]))
    form = await browser_client.get("/portal/endpoints/new")
    assert form.status_code == 200
    data = {
        "csrf": csrf,
        "url": URL,
        "scheme": "hmac",
        "secret": "hmac-shared-secret-1",
        "opt_hmac_header_name": "X-Sig",
        "opt_hmac_algorithm": "sha512",
        "tls_client_cert": pki["cert"],
        "tls_client_key": pki["key"],
        "tls_ca_bundle": pki["ca"],
        "tls_min_version": "1.3",
        "header_name": ["X-Tenant", "X-Env", ""],
        "header_value": ["acme", "prod", ""],
        "retry_schedule": "5, 60, 600",
        "timeout_s": "8",
        "rate_limit_per_s": "25",
        "max_concurrency": "3",
        "event_types_extra": "order.*",
    }
    endpoint = await api.hg.get_endpoint(await create(browser_client, "/portal", data))
    config = endpoint.config
    assert config.tls == TlsConfig(
        client_cert=pki["cert"].strip(), ca_bundle=pki["ca"].strip(), min_version="1.3"
    )
    assert (config.scheme, dict(config.scheme_options)) == (
        "hmac",
        {"header_name": "X-Sig", "algorithm": "sha512"},
    )
    assert dict(config.headers) == {"X-Tenant": "acme", "X-Env": "prod"}
    assert config.event_types == ("order.*",)
    policy = config.policy
    assert (policy.retry_schedule, policy.timeout_s, policy.rate_limit_per_s, policy.max_concurrency) == (
        (5.0, 60.0, 600.0),
        8.0,
        25.0,
        3,
    )
    stored = sealed(api, endpoint)
    assert (stored["tls_key"], stored["secret"]) == ([pki["key"].strip()], ["hmac-shared-secret-1"])


async def test_the_portal_form_needs_manage_endpoints(api: Api, browser_client: httpx.AsyncClient) -> None:
    app = await api.hg.create_application("acme", app_id="acme")
    link = await portal_link(api.client, api.token, app.id, ["view"])
    csrf = await open_portal(browser_client, str(link["url"]))
    assert (await browser_client.get("/portal/endpoints/new")).status_code == 403
    refused = await browser_client.post("/portal/endpoints", data={"csrf": csrf, "url": URL})
    assert refused.status_code == 403
    assert await api.hg.list_endpoints(app.id) == []


async def test_a_refused_form_keeps_what_was_typed_but_no_secret(
    api: Api, browser_client: httpx.AsyncClient, pki: dict[str, str]
) -> None:
    csrf = await dashboard(api, browser_client)
    data = {
        "csrf": csrf,
        "url": URL,
        "event_type": "order.created",
        "event_types_extra": "invoice.*",
        "secret": "signing-secret-typed-1",
        "auth_type": "oauth2",
        **EVERY_AUTH_FIELD,
        "auth_oauth2_token_url": "http://auth.example/token",  # refused: not https
        "tls_client_key": pki["key"],
        "header_name": "X-Tenant",
        "header_value": "acme",
        "retry_schedule": "5, 60",
    }
    page = await browser_client.post("/ui/apps/acme/endpoints", data=data)
    assert page.status_code == 422
    html = page.text
    alert = re.search(r'<p class="error" role="alert" id="form-error">([^<]*)</p>', html)
    assert alert is not None
    assert "auth.token_url" in alert.group(1)
    # shown inside the Authentication fieldset, beside the field it is about
    assert html.index('id="form-error"') > html.index("<legend>Authentication</legend>")
    assert html.index('id="form-error"') < html.index("<legend>Payload</legend>")
    for kept in (
        'value="https://acme.example/hook"',
        'value="http://auth.example/token"',
        'value="acme-client"',
        'value="invoice.*"',
        'value="X-Tenant"',
        'value="5, 60"',
        '<option value="oauth2" selected>',
        '<option value="client_secret_post" selected>',
        'value="order.created" checked',
    ):
        assert kept in html, kept
    for secret in (*SECRETS, "signing-secret-typed-1", "BEGIN PRIVATE KEY", "BEGIN RSA PRIVATE KEY"):
        assert secret not in html, secret
    assert await api.hg.list_endpoints("acme") == []
    # a refusal by the API's body model (pydantic) is shown the same way
    too_slow = await browser_client.post(
        "/ui/apps/acme/endpoints", data={"csrf": csrf, "url": URL, "timeout_s": "999"}
    )
    assert too_slow.status_code == 422
    assert "timeout_s" in too_slow.text


async def test_a_url_only_edit_keeps_the_stored_credentials(
    api: Api, browser_client: httpx.AsyncClient, pki: dict[str, str]
) -> None:
    csrf = await dashboard(api, browser_client)
    data = {
        "csrf": csrf,
        "url": URL,
        "auth_type": "oauth2",
        **EVERY_AUTH_FIELD,
        "payload_format": "jwe",
        "payload_jwe_public_key": pki["jwe"],
        "tls_client_cert": pki["cert"],
        "tls_client_key": pki["key"],
        "header_name": "X-Tenant",
        "header_value": "acme",
    }
    endpoint_id = await create(browser_client, "/ui/apps/acme", data)
    before = await api.hg.get_endpoint(endpoint_id)
    form = await browser_client.get(f"/ui/apps/acme/endpoints/{endpoint_id}/edit")
    assert form.status_code == 200
    html = form.text
    # the current public values, no secret
    for shown in (
        'value="https://auth.example/token"',
        'value="acme-client"',
        'value="X-Tenant"',
        "BEGIN CERTIFICATE",
    ):
        assert shown in html, shown
    for secret in (*SECRETS, pki["key"].strip()):
        assert secret not in html
    # the browser sends the whole form back as shown, with only the URL changed
    sent: dict[str, Any] = form_fields(html)
    assert sent["auth_type"] == ["oauth2"]
    assert sent["payload_format"] == ["jwe"]
    assert "replace_auth" not in sent
    sent["url"] = ["https://acme.example/v2"]
    saved = await browser_client.post(f"/ui/apps/acme/endpoints/{endpoint_id}/edit", data=sent)
    assert saved.status_code == 303, saved.text
    after = await api.hg.get_endpoint(endpoint_id)
    assert after.config.url == "https://acme.example/v2"
    assert (after.config.auth, after.config.payload, after.config.tls) == (
        before.config.auth,
        before.config.payload,
        before.config.tls,
    )
    assert dict(after.config.headers) == {"X-Tenant": "acme"}
    assert sealed(api, after) == sealed(api, before)
    assert sealed(api, after)["auth"] == ["oauth-secret-1"]

    # ticking "change the authentication" replaces it, and its secret, as a whole
    changed = await browser_client.post(
        f"/ui/apps/acme/endpoints/{endpoint_id}/edit",
        data={
            "csrf": csrf,
            "url": "https://acme.example/v2",
            "replace_auth": "on",
            "auth_type": "bearer",
            "auth_bearer_token": "new-bearer-secret",
        },
    )
    assert changed.status_code == 303
    final = await api.hg.get_endpoint(endpoint_id)
    assert final.config.auth == BearerAuth()
    assert sealed(api, final)["auth"] == ["new-bearer-secret"]
    assert sealed(api, final)["tls_key"] == [pki["key"].strip()]  # TLS was not ticked: kept


async def test_a_refused_edit_is_shown_again_without_secrets(
    api: Api, browser_client: httpx.AsyncClient
) -> None:
    csrf = await dashboard(api, browser_client)
    endpoint = (
        await api.hg.create_endpoint("acme", URL, auth={"type": "bearer", "token": "kept-token"})
    ).endpoint
    refused = await browser_client.post(
        f"/ui/apps/acme/endpoints/{endpoint.id}/edit",
        data={
            "csrf": csrf,
            "url": URL,
            "replace_auth": "on",
            "auth_type": "basic",
            "auth_basic_password": "pw-typed",
        },
    )
    assert refused.status_code == 422
    assert "auth (basic) needs username" in refused.text
    assert "pw-typed" not in refused.text
    assert "kept-token" not in refused.text
    assert sealed(api, await api.hg.get_endpoint(endpoint.id))["auth"] == ["kept-token"]
