#!/bin/sh
# The main job until `hookgate serve` exists: a signed webhook round trip through the CLI, then the
# delivery engine on the embedded default (examples/deliver.py: SQLite, a worker, a verifying receiver).
# Generates a Standard Webhooks secret, signs a body, verifies it, and shows a tampered copy being refused;
# then does the same with a JWS signed by a fresh EC key and checked against its JWKS.
set -eu
HOOKGATE=${HOOKGATE:-.venv/bin/hookgate}
PYTHON=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

secret=$("$HOOKGATE" keys generate --type hmac)
printf '{"type":"invoice.paid","data":{"id":"inv_123","amount":4200}}' > "$work/body.json"

echo "== sign (standard-webhooks)"
"$HOOKGATE" sign --scheme standard-webhooks --secret "$secret" --body-file "$work/body.json" > "$work/headers"
cat "$work/headers"

set --
while IFS= read -r line; do set -- "$@" --header "$line"; done < "$work/headers"

echo "== verify the genuine request"
"$HOOKGATE" verify --scheme standard-webhooks --secret "$secret" "$@" --body-file "$work/body.json"
echo

echo "== verify a tampered body (must be refused, exit 1)"
printf '{"type":"invoice.paid","data":{"id":"inv_123","amount":1}}' > "$work/tampered.json"
if "$HOOKGATE" verify --scheme standard-webhooks --secret "$secret" "$@" --body-file "$work/tampered.json"; then
  echo "tampered body was accepted" >&2
  exit 1
fi

echo "== JWS: sign with a new EC key, verify against its JWKS"
"$HOOKGATE" keys generate --type ec --public-out "$work/public.pem" > "$work/private.pem"
"$HOOKGATE" jwks "$work/public.pem" > "$work/jwks.json"
"$HOOKGATE" sign --scheme jws --key "$work/private.pem" --body-file "$work/body.json" > "$work/token"
# the token is the body as it is, with no exp claim: verify refuses such tokens unless told otherwise
"$HOOKGATE" verify --scheme jws --key "$work/jwks.json" --allow-no-exp --body-file "$work/token"
echo
echo "round trip OK"

echo "== deliver: publish -> SQLite -> worker -> verifying receiver on 127.0.0.1"
"$PYTHON" "$(dirname "$0")/deliver.py"
