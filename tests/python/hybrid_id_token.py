"""Validates an ID token from Ostium's hybrid flow with authlib, a second relying-party
library: signature against the JWKS, iss, aud, nonce, and the c_hash and at_hash that
bind the code and the access token delivered beside it (OpenID Connect Core 3.3.2.11).

Run by tests/tests/browser_flows.rs with OSTIUM_ISSUER, OSTIUM_CLIENT_ID, OSTIUM_NONCE,
OSTIUM_CODE, OSTIUM_ID_TOKEN and OSTIUM_ACCESS_TOKEN set. Exits non-zero on any failure.
"""

import json
import os
import sys
import urllib.request

from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import HybridIDToken

issuer = os.environ["OSTIUM_ISSUER"]
client_id = os.environ["OSTIUM_CLIENT_ID"]

with urllib.request.urlopen(f"{issuer}/.well-known/jwks") as response:
    keys = JsonWebKey.import_key_set(json.load(response))


def validate(code, access_token):
    claims = jwt.decode(
        os.environ["OSTIUM_ID_TOKEN"],
        keys,
        claims_cls=HybridIDToken,
        claims_options={
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client_id},
        },
        claims_params={
            "nonce": os.environ["OSTIUM_NONCE"],
            "client_id": client_id,
            "code": code,
            "access_token": access_token,
        },
    )
    claims.validate()
    return claims


claims = validate(os.environ["OSTIUM_CODE"], os.environ["OSTIUM_ACCESS_TOKEN"])
assert claims["c_hash"] and claims["at_hash"], claims

# The hashes bind: another code or another access token does not validate.
for code, access_token in [
    ("another-code", os.environ["OSTIUM_ACCESS_TOKEN"]),
    (os.environ["OSTIUM_CODE"], "another-access-token"),
]:
    try:
        validate(code, access_token)
    except Exception as error:  # authlib raises joserfc's or its own InvalidClaimError
        if type(error).__name__ == "InvalidClaimError":
            continue
        raise
    sys.exit("authlib accepted an ID token for another code or access token")

print("hybrid ID token validated:", claims["sub"])
