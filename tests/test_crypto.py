"""Tests for sealing secrets at rest."""

from __future__ import annotations

import base64
import os

import pytest

from hookgate.crypto import SecretBox, generate_master_key, parse_master_keys
from hookgate.errors import ConfigError, KeyFormatError

KEY_A = os.urandom(32)
KEY_B = os.urandom(32)


def test_seal_open_round_trip_and_ciphertext_hides_plaintext() -> None:
    box = SecretBox({"a": KEY_A})
    secret = b"whsec_super-secret-value"
    blob = box.seal(secret, b"endpoint:ep_1")
    assert secret not in blob
    assert box.open(blob, b"endpoint:ep_1") == secret
    # a fresh nonce each time: equal plaintexts do not give equal blobs
    assert box.seal(secret, b"endpoint:ep_1") != blob


def test_blob_is_bound_to_its_row() -> None:
    box = SecretBox({"a": KEY_A})
    blob = box.seal(b"s", b"endpoint:ep_1")
    with pytest.raises(KeyFormatError, match="altered"):
        box.open(blob, b"endpoint:ep_2")


def test_tampered_blob_refused() -> None:
    box = SecretBox({"a": KEY_A})
    blob = bytearray(box.seal(b"secret", b"x"))
    blob[-1] ^= 1
    with pytest.raises(KeyFormatError):
        box.open(bytes(blob), b"x")


@pytest.mark.parametrize(
    "blob", [b"", b"\x01", b"\x02\x01a" + b"0" * 40, b"plaintext secret", b"\x01\x01a123"]
)
def test_malformed_blobs_raise_our_error(blob: bytes) -> None:
    with pytest.raises(KeyFormatError):
        SecretBox({"a": KEY_A}).open(blob, b"x")


def test_read_without_the_key_is_a_clear_error_not_ciphertext() -> None:
    blob = SecretBox({"old": KEY_A}).seal(b"secret", b"x")
    with pytest.raises(ConfigError, match="'old', which is not configured"):
        SecretBox({"new": KEY_B}).open(blob, b"x")


def test_master_key_rotation_reseals_under_primary() -> None:
    old = SecretBox({"old": KEY_A})
    blob = old.seal(b"secret", b"x")
    ring = SecretBox({"new": KEY_B, "old": KEY_A})
    assert ring.primary == "new"
    resealed = ring.reseal(blob, b"x")
    assert ring.key_id_of(resealed) == "new"
    assert SecretBox({"new": KEY_B}).open(resealed, b"x") == b"secret"
    assert ring.reseal(resealed, b"x") is resealed


def test_repr_names_key_ids_only() -> None:
    box = SecretBox({"a": KEY_A})
    assert repr(box) == "SecretBox(primary='a', keys=['a'])"
    assert base64.b64encode(KEY_A).decode() not in repr(box)


def test_parse_master_keys_forms() -> None:
    a = base64.b64encode(KEY_A).decode()
    b = base64.b64encode(KEY_B).decode()
    assert parse_master_keys(a) == {"k1": KEY_A}
    assert parse_master_keys(f" new:{b} ,\n old:{a}\n") == {"new": KEY_B, "old": KEY_A}
    assert len(parse_master_keys(generate_master_key())["k1"]) == 32


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"short").decode(), "32 bytes"),
        (f"a:{base64.b64encode(KEY_A).decode()},a:{base64.b64encode(KEY_B).decode()}", "twice"),
    ],
)
def test_parse_master_keys_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_master_keys(text)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({}, "no master key"),
        ({"a": b"short"}, "32 bytes"),
        ({"bad id!": KEY_A}, "must be 1-64"),
        ({"k1\n": KEY_A}, "must be 1-64"),  # '$' matches before a final newline: the id is matched whole
    ],
)
def test_box_config_errors(keys: dict[str, bytes], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SecretBox(keys)
