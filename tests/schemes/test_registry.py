"""The scheme registry's configuration errors (schemes.registry): worded for every front end, since the same
message reaches the CLI, an API 422 and a gateway start-up error."""

from __future__ import annotations

import pytest

from hookgate.errors import ConfigError
from hookgate.keys import generate_key
from hookgate.schemes.registry import build_signer, build_verifier

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KEY = generate_key("ed25519").encode()


@pytest.mark.parametrize(
    ("build", "scheme", "secrets", "keys", "message"),
    [
        (build_verifier, "github", [], [], "scheme github needs a secret"),
        (build_verifier, "github", [SECRET], [KEY], "scheme github takes a secret, not a key"),
        (build_signer, "api-key", [SECRET, SECRET], [], "scheme api-key signs with exactly one secret"),
    ],
)
def test_messages_name_no_command_line_flag(
    build: object, scheme: str, secrets: list[str], keys: list[bytes], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build(scheme, secrets, keys)  # type: ignore[operator]
    assert str(info.value) == message
    assert "--" not in str(info.value)


def test_key_schemes_say_key() -> None:
    with pytest.raises(ConfigError, match=r"^scheme standard-webhooks-ed25519 needs a key$"):
        build_verifier("standard-webhooks-ed25519", [], [])
    with pytest.raises(ConfigError, match="takes a key, not a secret"):
        build_verifier("standard-webhooks-ed25519", [SECRET], [KEY])
