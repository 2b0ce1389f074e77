"""The CLI contract: `hookgate verify|sign|keys|jwks`, output, exit codes (0 valid, 1 invalid, 2 usage)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jwt as pyjwt
import pytest
from click.testing import CliRunner
from jwcrypto import jwe as jc_jwe
from jwcrypto import jwk as jc_jwk

from hookgate.cli import main

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = b'{"test": 2432232314}'


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def header_args(output: str) -> list[str]:
    args: list[str] = []
    for line in output.splitlines():
        args += ["--header", line]
    return args


def test_verify_standard_webhooks_spec_vector(runner: CliRunner) -> None:
    result = runner.invoke(
        main,
        [
            "verify",
            "--scheme",
            "standard-webhooks",
            "--secret",
            SECRET,
            "--header",
            "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--header",
            "webhook-timestamp: 1614265330",
            "--header",
            "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "--now",
            "1614265330",
        ],
        input=BODY,
    )
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == BODY


def test_sign_prints_headers_that_verify(runner: CliRunner, tmp_path: Path) -> None:
    body_file = tmp_path / "body.json"
    body_file.write_bytes(BODY)
    signed = runner.invoke(
        main,
        [
            "sign",
            "--scheme",
            "standard-webhooks",
            "--secret",
            SECRET,
            "--id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--timestamp",
            "1614265330",
            "--body-file",
            str(body_file),
        ],
    )
    assert signed.exit_code == 0
    assert signed.stdout.splitlines() == [
        "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp: 1614265330",
        "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    ]


def test_invalid_request_exits_1_with_one_line_reason(runner: CliRunner) -> None:
    result = runner.invoke(
        main,
        [
            "verify",
            "--scheme",
            "standard-webhooks",
            "--secret",
            SECRET,
            "--header",
            "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--header",
            "webhook-timestamp: 1614265330",
            "--header",
            "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "--now",
            "1614265330",
        ],
        input=BODY + b" ",
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "invalid" in result.stderr


def test_stale_timestamp_exits_1_and_tolerance_widens_the_window(runner: CliRunner) -> None:
    args = [
        "verify",
        "--scheme",
        "standard-webhooks",
        "--secret",
        SECRET,
        "--header",
        "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek",
        "--header",
        "webhook-timestamp: 1614265330",
        "--header",
        "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "--now",
        "1614266330",
    ]
    assert runner.invoke(main, args, input=BODY).exit_code == 1
    assert runner.invoke(main, [*args, "--tolerance", "1000"], input=BODY).exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ["verify"],  # no scheme
        ["verify", "--scheme", "nope", "--secret", "x"],
        ["verify", "--scheme", "standard-webhooks"],  # no secret
        ["verify", "--scheme", "jws", "--secret", "x"],  # jws takes keys
        ["verify", "--scheme", "standard-webhooks", "--secret", SECRET, "--header", "no-colon"],
        ["verify", "--scheme", "standard-webhooks", "--secret", "whsec_!!!"],
        ["verify", "--scheme", "standard-webhooks", "--secret", SECRET, "--body-file", "/nonexistent/x"],
        ["verify", "--scheme", "jws", "--key", "/nonexistent/key.pem"],
        ["verify", "--scheme", "hmac", "--secret", "k", "--algorithm", "md5"],
        ["sign", "--scheme", "basic", "--secret", "no-colon"],
        ["sign", "--scheme", "api-key", "--secret", "a", "--secret", "b"],
        # an option the scheme does not read is refused rather than silently ignored
        ["sign", "--scheme", "standard-webhooks", "--secret", SECRET, "--prefix", "sha256="],
        ["verify", "--scheme", "hmac", "--secret", "k", "--alg", "RS256"],
        ["sign", "--scheme", "hmac", "--secret", "k", "--prefix", "sha256=\x0b"],
        ["keys", "generate", "--type", "dsa"],
        ["jwks"],
    ],
)
def test_usage_errors_exit_2(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(main, args, input=b"{}")
    assert result.exit_code == 2, (result.output, result.exception)


def test_key_file_that_is_not_a_key_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    result = runner.invoke(main, ["verify", "--scheme", "jws", "--key", str(bad)], input=b"x.y.z")
    assert result.exit_code == 2
    assert "PEM key cannot be loaded" in result.stderr


def generate(runner: CliRunner, tmp_path: Path, kind: str) -> tuple[Path, Path]:
    private, public = tmp_path / f"{kind}.pem", tmp_path / f"{kind}.pub.pem"
    result = runner.invoke(main, ["keys", "generate", "--type", kind, "--public-out", str(public)])
    assert result.exit_code == 0
    private.write_text(result.stdout)
    assert "PRIVATE KEY" in result.stdout
    assert "PUBLIC KEY" in public.read_text()
    return private, public


def secret_pair(scheme: str) -> tuple[list[str], list[str]]:
    """(sign args, verify args) for the secret-based schemes."""
    secrets = {
        "standard-webhooks": SECRET,
        "github": "It's a Secret to Everybody",
        "stripe": "whsec_stripe_test_secret",
        "shopify": "shpss_secret",
        "slack": "8f742231b10e8888abcd99yyyzzz85a5",
        "api-key": "key-0123456789",
        "basic": "client-1:pa55word",
        "jwt-hs256": "a-very-long-shared-secret-of-32-bytes!!",
    }
    args = ["--secret", secrets[scheme]]
    return args, args


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        ("github", {"X-GitHub-Event": "orders.create", "X-GitHub-Delivery": "msg_1"}),
        (
            "shopify",
            {
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Webhook-Id": "msg_1",
                "X-Shopify-Event-Id": "msg_1",
                "X-Shopify-Shop-Domain": "hookgate.myshopify.com",
                "X-Shopify-Triggered-At": "2023-11-14T22:13:20.000000Z",
            },
        ),
    ],
)
def test_sign_with_an_event_type_prints_the_providers_event_headers(
    runner: CliRunner, scheme: str, expected: dict[str, str]
) -> None:
    signed = runner.invoke(
        main,
        [
            "sign",
            "--scheme",
            scheme,
            "--secret",
            "k3y",
            "--id",
            "msg_1",
            "--timestamp",
            "1700000000",
            "--event-type",
            "orders.create",
        ],
        input=BODY,
    )
    assert signed.exit_code == 0, signed.output
    printed = dict(line.split(": ", 1) for line in signed.stdout.splitlines())
    assert printed.items() >= expected.items()
    refused = runner.invoke(
        main, ["sign", "--scheme", scheme, "--secret", "k3y", "--event-type", "orders create"], input=BODY
    )
    assert refused.exit_code == 2
    assert "event type 'orders create' must be dot-separated words" in refused.output


@pytest.mark.parametrize(
    "scheme",
    ["standard-webhooks", "github", "stripe", "shopify", "slack", "api-key", "basic", "jwt-hs256"],
)
def test_sign_then_verify_every_secret_scheme(runner: CliRunner, scheme: str) -> None:
    sign_args, verify_args = secret_pair(scheme)
    signed = runner.invoke(
        main, ["sign", "--scheme", scheme, *sign_args, "--timestamp", "1700000000"], input=BODY
    )
    assert signed.exit_code == 0, signed.output
    headers = header_args(signed.stdout)
    ok = runner.invoke(
        main, ["verify", "--scheme", scheme, *verify_args, *headers, "--now", "1700000010"], input=BODY
    )
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout_bytes == BODY
    wrong = runner.invoke(
        main,
        [
            "verify",
            "--scheme",
            scheme,
            "--secret",
            "wrong:secret-wrong-secret-wrong-secret!",
            *headers,
            "--now",
            "1700000010",
        ],
        input=BODY,
    )
    assert wrong.exit_code == 1


def test_hmac_options(runner: CliRunner) -> None:
    options = [
        "--header-name",
        "X-Sig",
        "--algorithm",
        "sha512",
        "--encoding",
        "base64",
        "--prefix",
        "sha512=",
    ]
    signed = runner.invoke(main, ["sign", "--scheme", "hmac", "--secret", "k3y", *options], input=BODY)
    assert signed.exit_code == 0
    assert signed.stdout.startswith("X-Sig: sha512=")
    ok = runner.invoke(
        main,
        ["verify", "--scheme", "hmac", "--secret", "k3y", *options, *header_args(signed.stdout)],
        input=BODY,
    )
    assert ok.exit_code == 0
    tampered = runner.invoke(
        main,
        ["verify", "--scheme", "hmac", "--secret", "k3y", *options, *header_args(signed.stdout)],
        input=b"{}",
    )
    assert tampered.exit_code == 1


def test_ed25519_round_trip(runner: CliRunner, tmp_path: Path) -> None:
    private, public = generate(runner, tmp_path, "ed25519")
    signed = runner.invoke(
        main, ["sign", "--scheme", "standard-webhooks-ed25519", "--key", str(private)], input=BODY
    )
    assert signed.exit_code == 0
    assert "v1a," in signed.stdout
    ok = runner.invoke(
        main,
        [
            "verify",
            "--scheme",
            "standard-webhooks-ed25519",
            "--key",
            str(public),
            *header_args(signed.stdout),
        ],
        input=BODY,
    )
    assert ok.exit_code == 0
    assert ok.stdout_bytes == BODY


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_jws_round_trip_with_pem_and_jwks(runner: CliRunner, tmp_path: Path, kind: str) -> None:
    private, public = generate(runner, tmp_path, kind)
    token = runner.invoke(main, ["sign", "--scheme", "jws", "--key", str(private)], input=BODY)
    assert token.exit_code == 0
    assert token.stdout.count(".") == 2
    token_bytes = token.stdout.strip().encode()
    # hookgate signs the body as it is: there is no exp, and a token without one is refused by default
    refused = runner.invoke(main, ["verify", "--scheme", "jws", "--key", str(public)], input=token_bytes)
    assert refused.exit_code == 1
    assert "exp" in refused.stderr
    lax = ["--allow-no-exp"]
    ok = runner.invoke(main, ["verify", "--scheme", "jws", "--key", str(public), *lax], input=token_bytes)
    assert ok.exit_code == 0
    assert ok.stdout_bytes == BODY
    jwks = runner.invoke(main, ["jwks", str(public)])
    assert jwks.exit_code == 0
    document = json.loads(jwks.stdout)
    assert [k["kty"] for k in document["keys"]] == [{"rsa": "RSA", "ec": "EC", "ed25519": "OKP"}[kind]]
    assert "d" not in document["keys"][0]
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(jwks.stdout)
    via_jwks = runner.invoke(
        main, ["verify", "--scheme", "jws", "--key", str(jwks_file), *lax], input=token_bytes
    )
    assert via_jwks.exit_code == 0
    assert via_jwks.stdout_bytes == BODY
    tampered = token_bytes[:-4] + (b"AAAA" if not token_bytes.endswith(b"AAAA") else b"BBBB")
    assert (
        runner.invoke(
            main, ["verify", "--scheme", "jws", "--key", str(public), *lax], input=tampered
        ).exit_code
        == 1
    )


def test_jwks_of_a_private_key_prints_only_public_members(runner: CliRunner, tmp_path: Path) -> None:
    private, _ = generate(runner, tmp_path, "rsa")
    result = runner.invoke(main, ["jwks", str(private)])
    assert result.exit_code == 0
    (key,) = json.loads(result.stdout)["keys"]
    assert set(key) == {"kty", "n", "e", "kid", "use", "alg"}


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_jwe_round_trip(runner: CliRunner, tmp_path: Path, kind: str) -> None:
    private, public = generate(runner, tmp_path, kind)
    token = runner.invoke(main, ["sign", "--scheme", "jwe", "--key", str(public)], input=BODY)
    assert token.exit_code == 0
    assert token.stdout.count(".") == 4
    # without the sender's keys a JWE proves nothing about its sender: a usage error unless asked for
    unsigned = runner.invoke(
        main, ["verify", "--scheme", "jwe", "--key", str(private)], input=token.stdout.encode()
    )
    assert unsigned.exit_code == 2
    assert "sender" in unsigned.stderr
    lax = ["--allow-unsigned", "--allow-no-exp"]
    ok = runner.invoke(
        main, ["verify", "--scheme", "jwe", "--key", str(private), *lax], input=token.stdout.encode()
    )
    assert ok.exit_code == 0
    assert ok.stdout_bytes == BODY
    # the public key cannot decrypt: a usage error (a private key is required), not a crash
    assert (
        runner.invoke(
            main, ["verify", "--scheme", "jwe", "--key", str(public), *lax], input=token.stdout.encode()
        ).exit_code
        == 2
    )


def test_verify_judges_token_claims(runner: CliRunner, tmp_path: Path) -> None:
    private, public = generate(runner, tmp_path, "ec")
    key = private.read_text()

    def verify(claims: dict[str, object], *extra: str) -> int:
        token = pyjwt.encode(claims, key, algorithm="ES256").encode()
        args = ["verify", "--scheme", "jws", "--key", str(public), "--now", "1700000000", *extra]
        return runner.invoke(main, args, input=token).exit_code

    assert verify({"exp": 1700000060}) == 0
    assert verify({"exp": 1699990000}) == 1
    assert verify({"exp": 1700000060, "nbf": 1700009000}) == 1
    assert verify({"exp": 1700000060, "iss": "acme"}, "--issuer", "acme") == 0
    assert verify({"exp": 1700000060, "iss": "evil"}, "--issuer", "acme") == 1
    assert verify({"exp": 1700000060, "aud": "them"}, "--audience", "us") == 1


def test_verify_a_sign_then_encrypt_jwe_with_the_senders_key(runner: CliRunner, tmp_path: Path) -> None:
    receiver_private, receiver_public = generate(runner, tmp_path, "rsa")
    sender_private, sender_public = generate(runner, tmp_path, "ed25519")
    other = tmp_path / "stranger"
    other.mkdir()
    _, stranger_public = generate(runner, other, "ed25519")
    inner = pyjwt.encode({"n": 1, "exp": 1700000060}, sender_private.read_text(), algorithm="EdDSA")
    token = jc_jwe.JWE(
        inner.encode(), protected=json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"})
    )
    token.add_recipient(jc_jwk.JWK.from_pem(receiver_public.read_bytes()))
    compact = token.serialize(compact=True).encode()
    base = ["verify", "--scheme", "jwe", "--key", str(receiver_private), "--now", "1700000000"]
    ok = runner.invoke(main, [*base, "--sender-key", str(sender_public)], input=compact)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout_bytes) == {"n": 1, "exp": 1700000060}
    wrong = runner.invoke(main, [*base, "--sender-key", str(stranger_public)], input=compact)
    assert wrong.exit_code == 1
    misplaced = ["verify", "--scheme", "jws", "--key", str(sender_public), "--sender-key", str(sender_public)]
    assert runner.invoke(main, misplaced, input=inner.encode()).exit_code == 2


def test_keys_public(runner: CliRunner, tmp_path: Path) -> None:
    private, public = generate(runner, tmp_path, "ec")
    result = runner.invoke(main, ["keys", "public", str(private)])
    assert result.exit_code == 0
    assert result.stdout.strip() == public.read_text().strip()


def test_keys_generate_hmac_is_a_whsec_secret(runner: CliRunner) -> None:
    result = runner.invoke(main, ["keys", "generate", "--type", "hmac"])
    assert result.exit_code == 0
    assert result.stdout.startswith("whsec_")


def test_console_script_is_installed() -> None:
    # the real entry point, in a real process: stdin body, exit codes as documented
    exe = Path(sys.executable).with_name("hookgate")
    result = subprocess.run(  # noqa: S603 - fixed argv, our own console script
        [
            str(exe),
            "verify",
            "--scheme",
            "github",
            "--secret",
            "It's a Secret to Everybody",
            "--header",
            "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ],
        input=b"Hello, World!",
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"Hello, World!"
