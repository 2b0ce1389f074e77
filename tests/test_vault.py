"""Sealed endpoint secrets: sealing bound to the endpoint, rotation with a grace period, clear failures."""

from __future__ import annotations

import json

import pytest

from hookgate.crypto import SecretBox, generate_master_key, parse_master_keys
from hookgate.errors import ConfigError, KeyFormatError
from hookgate.vault import (
    DEFAULT_GRACE_S,
    EndpointSecrets,
    SecretEntry,
    open_secrets,
    seal_secrets,
)

OLD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n"
    "-----END PRIVATE KEY-----\n"
)


def make_box(kid: str = "k1") -> SecretBox:
    return SecretBox({kid: next(iter(parse_master_keys(generate_master_key()).values()))})


@pytest.fixture
def box() -> SecretBox:
    return make_box()


# -- sealing ---------------------------------------------------------------------------------------


def test_seal_open_round_trip(box: SecretBox) -> None:
    secrets = EndpointSecrets(
        (
            SecretEntry(NEW, "secret"),
            SecretEntry(OLD, "secret", expires_at=1_700_000_123.5),
            SecretEntry(PEM, "key"),
        )
    )
    blob = seal_secrets(box, "ep_1", secrets)
    opened = open_secrets(box, "ep_1", blob)
    assert opened == secrets
    assert opened.entries[1].expires_at == 1_700_000_123.5


def test_round_trip_of_empty_secrets(box: SecretBox) -> None:
    blob = seal_secrets(box, "ep_1", EndpointSecrets())
    assert blob  # an empty set is still a sealed document, not an empty blob
    assert open_secrets(box, "ep_1", blob) == EndpointSecrets()


def test_empty_blob_means_no_entries(box: SecretBox) -> None:
    opened = open_secrets(box, "ep_1", b"")
    assert opened.entries == ()
    assert opened.active_secrets(0) == []
    assert opened.active_keys(0) == []
    assert opened.valid_until(0) is None


def test_empty_blob_needs_no_working_box() -> None:
    # an endpoint with scheme "none" has no secrets; opening them must not need the master key
    other = make_box("other")
    assert open_secrets(other, "ep_1", b"").entries == ()


def test_blob_is_bound_to_the_endpoint_id(box: SecretBox) -> None:
    blob = seal_secrets(box, "ep_1", EndpointSecrets.of([OLD]))
    with pytest.raises(KeyFormatError, match="does not open"):
        open_secrets(box, "ep_2", blob)


def test_different_master_key_with_same_id_fails_clearly(box: SecretBox) -> None:
    blob = seal_secrets(box, "ep_1", EndpointSecrets.of([OLD]))
    other = make_box("k1")
    with pytest.raises(KeyFormatError, match=r"does not open with master key 'k1'"):
        open_secrets(other, "ep_1", blob)


def test_unknown_master_key_id_fails_clearly(box: SecretBox) -> None:
    blob = seal_secrets(box, "ep_1", EndpointSecrets.of([OLD]))
    other = make_box("k2")
    with pytest.raises(ConfigError, match=r"master key 'k1', which is not configured"):
        open_secrets(other, "ep_1", blob)


def test_plaintext_secret_not_in_sealed_bytes(box: SecretBox) -> None:
    blob = seal_secrets(box, "ep_1", EndpointSecrets.of([OLD], [PEM]))
    assert OLD.encode() not in blob
    assert OLD[len("whsec_") :].encode() not in blob
    assert b"whsec_" not in blob
    assert b"PRIVATE KEY" not in blob
    assert b"secret" not in blob  # not even the JSON structure shows


def test_sealing_twice_gives_different_blobs(box: SecretBox) -> None:
    secrets = EndpointSecrets.of([OLD])
    assert seal_secrets(box, "ep_1", secrets) != seal_secrets(box, "ep_1", secrets)


def test_tampered_blob_fails(box: SecretBox) -> None:
    blob = bytearray(seal_secrets(box, "ep_1", EndpointSecrets.of([OLD])))
    blob[-1] ^= 1
    with pytest.raises(KeyFormatError):
        open_secrets(box, "ep_1", bytes(blob))


def test_plaintext_blob_is_rejected(box: SecretBox) -> None:
    with pytest.raises(KeyFormatError, match="unknown format"):
        open_secrets(box, "ep_1", json.dumps({"v": 1, "entries": []}).encode())


@pytest.mark.parametrize(
    "plaintext",
    [
        b"not json",
        b"[1, 2]",
        b'"a string"',
        b"{}",
        b'{"v": 1}',
        b'{"v": 2, "entries": []}',
        b'{"entries": []}',
        b'{"v": 1, "entries": [{"value": "x"}]}',
        b'{"v": 1, "entries": [{"value": "x", "kind": "secret", "expires_at": "soon"}]}',
        b'{"v": 1, "entries": 5}',
        b'{"v": 1, "entries": [1]}',
        b"\xff\xfe\x00",
    ],
)
def test_garbage_inside_a_valid_seal_is_a_key_format_error(box: SecretBox, plaintext: bytes) -> None:
    blob = box.seal(plaintext, b"hookgate:endpoint-secrets:ep_1")
    with pytest.raises(KeyFormatError, match="sealed secrets of endpoint ep_1 are not in a known format"):
        open_secrets(box, "ep_1", blob)


# -- entries ---------------------------------------------------------------------------------------


def test_secret_entry_repr_hides_value() -> None:
    entry = SecretEntry(OLD, "secret", expires_at=12.0)
    text = repr(entry)
    assert OLD not in text
    assert OLD[6:20] not in text
    assert "redacted" in text
    assert "12.0" in text
    # the container's repr goes through the entries' repr
    secrets = EndpointSecrets.of([OLD], [PEM])
    assert OLD not in repr(secrets)
    assert "PRIVATE" not in repr(secrets)
    assert OLD not in str(secrets)


def test_of_puts_secrets_and_keys_with_no_expiry() -> None:
    secrets = EndpointSecrets.of([OLD, NEW], [PEM])
    assert [(e.kind, e.expires_at) for e in secrets.entries] == [
        ("secret", None),
        ("secret", None),
        ("key", None),
    ]
    assert secrets.active_secrets(1e12) == [OLD, NEW]
    assert secrets.active_keys(1e12) == [PEM.encode()]
    assert secrets.valid_until(0) is None


def test_entry_active_until_strictly_before_expiry() -> None:
    entry = SecretEntry(OLD, expires_at=100.0)
    assert entry.active(99.999)
    assert not entry.active(100.0)
    assert not entry.active(101.0)
    assert SecretEntry(OLD).active(1e15)


# -- rotation --------------------------------------------------------------------------------------


def test_rotate_keeps_old_secret_until_grace_ends() -> None:
    rotated = EndpointSecrets.of([OLD]).rotate(SecretEntry(NEW), now=1000.0, grace_s=100.0)
    assert [e.value for e in rotated.entries] == [NEW, OLD]
    assert rotated.entries[0].expires_at is None
    assert rotated.entries[1].expires_at == 1100.0
    assert rotated.active_secrets(1000.0) == [NEW, OLD]  # newest first
    assert rotated.active_secrets(1099.9) == [NEW, OLD]
    assert rotated.active_secrets(1100.0) == [NEW]
    assert rotated.active_secrets(5000.0) == [NEW]
    assert rotated.valid_until(1000.0) == 1100.0
    assert rotated.valid_until(1099.0) == 1100.0
    assert rotated.valid_until(1100.0) is None


def test_rotate_default_grace_is_a_day() -> None:
    rotated = EndpointSecrets.of([OLD]).rotate(SecretEntry(NEW), now=0.0)
    assert DEFAULT_GRACE_S == 86400.0
    assert rotated.valid_until(0.0) == DEFAULT_GRACE_S
    assert rotated.active_secrets(DEFAULT_GRACE_S - 1) == [NEW, OLD]
    assert rotated.active_secrets(DEFAULT_GRACE_S) == [NEW]


def test_rotating_twice_caps_expiries() -> None:
    third = "whsec_dGhpcmQtc2VjcmV0LWZvci10aGUtdGVzdHM="
    once = EndpointSecrets.of([OLD]).rotate(SecretEntry(NEW), now=1000.0, grace_s=100.0)
    twice = once.rotate(SecretEntry(third), now=1050.0, grace_s=100.0)
    assert [(e.value, e.expires_at) for e in twice.entries] == [
        (third, None),
        (NEW, 1150.0),
        (OLD, 1100.0),  # capped at its earlier expiry, not extended to 1150
    ]
    assert twice.active_secrets(1050.0) == [third, NEW, OLD]
    assert twice.active_secrets(1100.0) == [third, NEW]
    assert twice.active_secrets(1150.0) == [third]
    assert twice.valid_until(1050.0) == 1100.0
    assert twice.valid_until(1100.0) == 1150.0
    assert twice.valid_until(1150.0) is None
    # a shorter grace the second time shortens the earlier entries too
    short = once.rotate(SecretEntry(third), now=1050.0, grace_s=10.0)
    assert [e.expires_at for e in short.entries] == [None, 1060.0, 1060.0]


def test_rotate_drops_expired_entries() -> None:
    once = EndpointSecrets.of([OLD]).rotate(SecretEntry(NEW), now=1000.0, grace_s=100.0)
    later = once.rotate(SecretEntry("whsec_bGF0ZXItc2VjcmV0LWZvci10ZXN0cw=="), now=2000.0, grace_s=100.0)
    assert [e.value for e in later.entries] == ["whsec_bGF0ZXItc2VjcmV0LWZvci10ZXN0cw==", NEW]
    assert OLD not in [e.value for e in later.entries]


def test_rotate_with_zero_grace_retires_old_at_once() -> None:
    rotated = EndpointSecrets.of([OLD]).rotate(SecretEntry(NEW), now=1000.0, grace_s=0.0)
    assert [e.value for e in rotated.entries] == [NEW]
    assert rotated.active_secrets(1000.0) == [NEW]


@pytest.mark.parametrize("grace", [-1.0, float("nan"), float("inf"), "60", True, None])
def test_rotate_grace_must_be_a_finite_non_negative_number(grace: object) -> None:
    with pytest.raises(ConfigError, match="must not be negative or infinite"):
        EndpointSecrets.of([OLD]).rotate(SecretEntry(NEW), now=1000.0, grace_s=grace)  # type: ignore[arg-type]


def test_rotating_a_secret_leaves_keys_alone() -> None:
    rotated = EndpointSecrets.of([OLD], [PEM]).rotate(SecretEntry(NEW), now=1000.0, grace_s=10.0)
    assert rotated.active_keys(10_000.0) == [PEM.encode()]
    assert rotated.active_secrets(10_000.0) == [NEW]
    key_entry = next(e for e in rotated.entries if e.kind == "key")
    assert key_entry.expires_at is None


def test_rotated_secrets_survive_sealing(box: SecretBox) -> None:
    rotated = EndpointSecrets.of([OLD]).rotate(SecretEntry(NEW), now=1000.0, grace_s=100.0)
    opened = open_secrets(box, "ep_9", seal_secrets(box, "ep_9", rotated))
    assert opened.active_secrets(1050.0) == [NEW, OLD]
    assert opened.active_secrets(1100.0) == [NEW]
    assert opened.valid_until(1000.0) == 1100.0
