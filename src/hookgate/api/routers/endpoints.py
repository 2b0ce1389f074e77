"""An application's endpoints: create, list, read, update, delete, rotate the secret, disable, enable,
health, send a test event, recover and resend their deliveries."""

from __future__ import annotations

from fastapi import Response

from hookgate.api.auth import Auth
from hookgate.api.deps import HG, Circuits, application, endpoint_of, resource_router
from hookgate.api.schemas import (
    DisableIn,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    HealthOut,
    RecoverIn,
    RecoverOut,
    ResendIn,
    ResendOut,
    RotateIn,
    SecretRotated,
    TestEventIn,
    TestEventOut,
    attempt_out,
    delivery_out,
    endpoint_out,
    message_out,
)

__all__ = ["router"]

router = resource_router("/api/v1/applications/{app_id}/endpoints", "endpoints")


@router.post("", status_code=201)
async def create_endpoint(app_id: str, body: EndpointIn, who: Auth, hg: HG) -> EndpointCreated:
    await application(hg, who, app_id)
    created = await hg.create_endpoint(
        app_id,
        body.url,
        event_types=body.event_types,
        scheme=body.scheme,
        secret=body.secret,
        keys=body.keys,
        scheme_options=body.scheme_options,
        headers=body.headers,
        timeout_s=body.timeout_s,
        rate_limit_per_s=body.rate_limit_per_s,
        max_concurrency=body.max_concurrency,
        retry_schedule=body.retry_schedule,
        allow_insecure=body.allow_insecure,
        auth=body.auth,
        payload=body.payload,
        tls=body.tls,
        # env:/file: references read hookgate's own environment and files: operators only
        references=who.is_admin,
    )
    return EndpointCreated(endpoint=endpoint_out(created.endpoint), secret=created.secret)


@router.get("")
async def list_endpoints(app_id: str, who: Auth, hg: HG) -> list[EndpointOut]:
    await application(hg, who, app_id)
    return [endpoint_out(e) for e in await hg.list_endpoints(app_id)]


@router.get("/{endpoint_id}")
async def get_endpoint(app_id: str, endpoint_id: str, who: Auth, hg: HG) -> EndpointOut:
    return endpoint_out(await endpoint_of(hg, who, app_id, endpoint_id))


@router.patch("/{endpoint_id}")
async def update_endpoint(
    app_id: str, endpoint_id: str, body: EndpointPatch, who: Auth, hg: HG
) -> EndpointOut:
    await endpoint_of(hg, who, app_id, endpoint_id)
    # explicitly sent nulls mean "no limit" / "default schedule"; fields not sent stay as they are
    changes = body.model_dump(exclude_unset=True)
    return endpoint_out(await hg.update_endpoint(endpoint_id, references=who.is_admin, **changes))


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(app_id: str, endpoint_id: str, who: Auth, hg: HG) -> Response:
    """Delete the endpoint: nothing is delivered to it any more (its pending and failed deliveries become
    dead); its messages, deliveries and attempts stay readable."""
    await endpoint_of(hg, who, app_id, endpoint_id)
    await hg.delete_endpoint(endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/test", status_code=202)
async def send_test_event(
    app_id: str, endpoint_id: str, body: TestEventIn, who: Auth, hg: HG
) -> TestEventOut:
    """Publish a message delivered to this endpoint only (``webhook.test`` with an example payload unless
    ``event_type``/``payload`` are given), whatever event types it subscribes to; 409 when it is disabled."""
    await endpoint_of(hg, who, app_id, endpoint_id)
    result = await hg.send_test_event(endpoint_id, body.event_type, body.payload)
    return TestEventOut(message=message_out(result.message), delivery=delivery_out(result.deliveries[0]))


@router.post("/{endpoint_id}/rotate-secret")
async def rotate_secret(app_id: str, endpoint_id: str, body: RotateIn, who: Auth, hg: HG) -> SecretRotated:
    await endpoint_of(hg, who, app_id, endpoint_id)
    secret = await hg.rotate_secret(endpoint_id, body.secret, grace_s=body.grace_s, references=who.is_admin)
    return SecretRotated(secret=secret, grace_s=body.grace_s)


@router.post("/{endpoint_id}/disable")
async def disable_endpoint(app_id: str, endpoint_id: str, body: DisableIn, who: Auth, hg: HG) -> EndpointOut:
    await endpoint_of(hg, who, app_id, endpoint_id)
    await hg.disable_endpoint(endpoint_id, reason=body.reason)
    return endpoint_out(await hg.get_endpoint(endpoint_id))


@router.post("/{endpoint_id}/enable")
async def enable_endpoint(app_id: str, endpoint_id: str, who: Auth, hg: HG) -> EndpointOut:
    await endpoint_of(hg, who, app_id, endpoint_id)
    await hg.enable_endpoint(endpoint_id)
    return endpoint_out(await hg.get_endpoint(endpoint_id))


@router.get("/{endpoint_id}/health")
async def endpoint_health(
    app_id: str, endpoint_id: str, who: Auth, hg: HG, circuit_states: Circuits
) -> HealthOut:
    endpoint = await endpoint_of(hg, who, app_id, endpoint_id)
    recent = (await hg.list_endpoint_attempts(endpoint_id, limit=100)).items
    ok = sum(1 for a in recent if a.status_code is not None and 200 <= a.status_code < 300)
    last_error = next((a for a in recent if not (a.status_code and 200 <= a.status_code < 300)), None)
    circuit = (circuit_states() if circuit_states is not None else {}).get(endpoint_id)
    return HealthOut(
        endpoint_id=endpoint_id,
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        failing_since=endpoint.failing_since,
        circuit=circuit,
        recent_attempts=len(recent),
        recent_success_rate=ok / len(recent) if recent else None,
        last_error=attempt_out(last_error) if last_error is not None else None,
    )


@router.post("/{endpoint_id}/recover")
async def recover(app_id: str, endpoint_id: str, body: RecoverIn, who: Auth, hg: HG) -> RecoverOut:
    await endpoint_of(hg, who, app_id, endpoint_id)
    return RecoverOut(recovered=await hg.recover(endpoint_id, since=body.since))


@router.post("/{endpoint_id}/resend")
async def resend_endpoint(app_id: str, endpoint_id: str, body: ResendIn, who: Auth, hg: HG) -> ResendOut:
    """Deliver again now the endpoint's dead (or, with ``status``, failed) deliveries, at most ``limit``;
    with ``dry_run`` only say which would be resent."""
    await endpoint_of(hg, who, app_id, endpoint_id)
    done = await hg.resend_endpoint(endpoint_id, status=body.status, limit=body.limit, dry_run=body.dry_run)
    return ResendOut(resent=done.resent, ids=list(done.ids), more=done.more, dry_run=done.dry_run)
