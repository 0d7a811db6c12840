"""API Gateway's JWT authorizer, played for `opsctl sandbox api`.

What an HTTP API JWT authorizer does before a route's function runs (API Gateway developer guide, "Controlling
access to HTTP APIs with JWT authorizers"): take the token from the identity source (`Authorization`, with or
without `Bearer `), fetch the issuer's JWKS, check the signature (RS256, `kid` in the JWKS), `iss` equal to the
authorizer's issuer, `aud` (ID tokens) or `client_id` (access tokens) among its audiences, `exp` in the future
and `nbf` past, and, when the route lists scopes, at least one of them in the token's `scope`. A missing or
invalid token is a 401, a missing scope a 403, and the function never runs. The verified claims reach the
function as `requestContext.authorizer.jwt` with every value a string (arrays as "[a b]"), as payload 2.0 does.

The sandbox's issuer is a moto user pool: its JWKS is served by the moto server at `/<pool_id>/.well-known/jwks.json`.
moto signs every pool's tokens with one key it ships, so a token of another pool differs only in `iss`: the issuer
check is what refuses it (tests/opsctl/test_jwt_authorizer.py)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

CLOCK_SKEW_SECONDS = 0  # API Gateway allows none that it documents; the sandbox allows none either


class Unauthorized(Exception):
    """The token is missing or invalid: API Gateway answers 401 {"message": "Unauthorized"}."""


class Forbidden(Exception):
    """The token is valid but lacks every scope the route requires: 403 {"message": "Forbidden"}."""


@dataclass
class JwtAuthorizer:
    """One JWT authorizer of the API as deployed: issuer, audiences, and where its keys come from."""

    issuer: str
    audience: list[str]
    jwks_url: str
    clock: Callable[[], float] = time.time
    _keys: KeySet | None = field(default=None, repr=False)

    def keys(self) -> KeySet:
        if self._keys is None:
            with urllib.request.urlopen(self.jwks_url, timeout=10) as resp:
                self._keys = KeySet.import_key_set(json.load(resp))
        return self._keys

    def verify(self, authorization: str | None, route_scopes: list[str] | None) -> dict:
        """The token's claims if API Gateway would let the request through; else Unauthorized or Forbidden."""
        if not authorization or not authorization.strip():
            raise Unauthorized("no token in the Authorization header")
        token = authorization.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if token.count(".") != 2:
            raise Unauthorized("not a JWT")
        try:
            header = json.loads(_b64url(token.split(".")[0]))
        except (ValueError, UnicodeDecodeError):
            raise Unauthorized("malformed JWT header") from None
        if header.get("alg") != "RS256":
            raise Unauthorized(f"alg {str(header.get('alg'))[:20]!r} is not RS256")
        try:
            key = self.keys().get_by_kid(header.get("kid"))
        except (ValueError, KeyError, JoseError):
            raise Unauthorized("no key in the issuer's JWKS has the token's kid") from None
        try:
            claims = json.loads(jws.deserialize_compact(token, key, algorithms=["RS256"]).payload)
        except (JoseError, ValueError):
            raise Unauthorized("signature does not verify against the issuer's JWKS") from None
        if not isinstance(claims, dict):
            raise Unauthorized("claims are not a JSON object")
        self._check_claims(claims)
        if route_scopes:
            granted = set(str(claims.get("scope", "")).split())
            if not granted & set(route_scopes):
                raise Forbidden(f"token has none of the route's scopes {route_scopes}")
        return claims

    def _check_claims(self, claims: dict) -> None:
        if claims.get("iss") != self.issuer:
            raise Unauthorized("iss is not this authorizer's issuer")
        audiences = claims.get("aud", claims.get("client_id"))
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if not any(a in self.audience for a in audiences):
            raise Unauthorized("neither aud nor client_id is an audience of this authorizer")
        now = self.clock()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or now >= exp + CLOCK_SKEW_SECONDS:
            raise Unauthorized("token expired (or has no exp)")
        if nbf is not None and (not isinstance(nbf, int | float) or now < nbf - CLOCK_SKEW_SECONDS):
            raise Unauthorized("token not valid yet (nbf)")


def event_claims(claims: dict) -> dict[str, str]:
    """Claims as payload 2.0 hands them to the function: strings, arrays as "[a b]"."""
    out = {}
    for k, v in claims.items():
        if isinstance(v, list):
            out[k] = "[" + " ".join(str(x) for x in v) + "]"
        elif isinstance(v, bool):
            out[k] = "true" if v else "false"
        else:
            out[k] = str(v)
    return out


def jwks_url_for(issuer: str, endpoint_url: str) -> str:
    """The sandbox URL of a Cognito issuer's JWKS (https://cognito-idp.<region>.amazonaws.com/<pool_id>)."""
    pool_id = issuer.rstrip("/").rsplit("/", 1)[-1]
    return f"{endpoint_url.rstrip('/')}/{pool_id}/.well-known/jwks.json"


def _b64url(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
