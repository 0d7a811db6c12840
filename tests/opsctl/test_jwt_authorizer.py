"""The sandbox's JWT authorizer against real tokens of moto's Cognito: a valid access token passes with its claims;
no token, an expired one, one of another pool, a tampered signature, another client, a missing scope are refused,
and through `LocalApi.handle` the function never runs for them."""

from __future__ import annotations

import base64
import gzip
import json
import time
from importlib import resources

import boto3
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from moto import mock_aws

from opsctl.sandbox.jwt_authorizer import Forbidden, JwtAuthorizer, Unauthorized, event_claims
from tests.opsctl.test_api_server import local_api

REGION = "us-east-1"
SCOPE = "aws.cognito.signin.user.admin"


def _moto_keys(name: str) -> dict:
    return json.loads(gzip.decompress((resources.files("moto.cognitoidp") / "resources" / name).read_bytes()))


class Pool:
    def __init__(self, idp, name: str):
        self.idp = idp
        self.id = idp.create_user_pool(PoolName=name, UsernameAttributes=["email"])["UserPool"]["Id"]
        self.client_id = idp.create_user_pool_client(
            UserPoolId=self.id, ClientName="api", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
        )["UserPoolClient"]["ClientId"]
        self.issuer = f"https://cognito-idp.{REGION}.amazonaws.com/{self.id}"

    def token(self, email: str = "alice@sandbox.example.com", kind: str = "AccessToken") -> str:
        try:
            self.idp.admin_create_user(UserPoolId=self.id, Username=email, MessageAction="SUPPRESS")
            self.idp.admin_set_user_password(UserPoolId=self.id, Username=email, Password="Pa55word!x", Permanent=True)
            self.idp.create_group(GroupName="tenant-acme", UserPoolId=self.id)
            self.idp.admin_add_user_to_group(UserPoolId=self.id, Username=email, GroupName="tenant-acme")
        except self.idp.exceptions.UsernameExistsException:
            pass
        auth = self.idp.admin_initiate_auth(
            UserPoolId=self.id,
            ClientId=self.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": "Pa55word!x"},
        )
        return auth["AuthenticationResult"][kind]


@pytest.fixture
def pools():
    with mock_aws():
        idp = boto3.client("cognito-idp", region_name=REGION)
        yield Pool(idp, "readers"), Pool(idp, "elsewhere")


def authorizer(pool: Pool, clock=time.time) -> JwtAuthorizer:
    return JwtAuthorizer(
        issuer=pool.issuer,
        audience=[pool.client_id],
        jwks_url="unused",
        clock=clock,
        _keys=KeySet.import_key_set(_moto_keys("jwks-public.json.gz")),
    )


def test_a_valid_access_token_passes_with_its_claims_as_payload_2_strings(pools):
    ours, _ = pools
    claims = authorizer(ours).verify("Bearer " + ours.token(), [SCOPE])
    assert claims["iss"] == ours.issuer and claims["client_id"] == ours.client_id and claims["sub"]
    assert event_claims(claims)["cognito:groups"] == "[tenant-acme]"
    assert isinstance(event_claims(claims)["exp"], str)
    assert authorizer(ours).verify(ours.token(), None)["sub"] == claims["sub"]  # without "Bearer " too


@pytest.mark.parametrize("header", [None, "", "Bearer ", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"])
def test_no_or_malformed_token_is_unauthorized(pools, header):
    with pytest.raises(Unauthorized):
        authorizer(pools[0]).verify(header, [SCOPE])


def test_a_token_of_another_pool_is_unauthorized_although_moto_signs_it_with_the_same_key(pools):
    ours, other = pools
    with pytest.raises(Unauthorized, match="iss"):
        authorizer(ours).verify(other.token(), [SCOPE])


def test_a_tampered_signature_or_payload_is_unauthorized(pools):
    ours, _ = pools
    header, payload, signature = ours.token().split(".")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    with pytest.raises(Unauthorized, match="signature"):
        authorizer(ours).verify(f"{header}.{payload}.{flipped}", [SCOPE])
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["cognito:groups"] = ["operators"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthorized, match="signature"):
        authorizer(ours).verify(f"{header}.{forged}.{signature}", [SCOPE])


def test_an_expired_token_is_unauthorized(pools):
    ours, _ = pools
    token = ours.token()
    exp = authorizer(ours).verify(token, [SCOPE])["exp"]
    with pytest.raises(Unauthorized, match="expired"):
        authorizer(ours, clock=lambda: exp + 1).verify(token, [SCOPE])
    # A token signed by the pool's own key that was issued already expired.
    private = RSAKey.import_key(_moto_keys("jwks-private.json.gz"))
    expired = jwt.encode(
        {"kid": "dummy", "alg": "RS256"},
        {"iss": ours.issuer, "client_id": ours.client_id, "sub": "x", "exp": int(time.time()) - 5, "scope": SCOPE},
        private,
    )
    with pytest.raises(Unauthorized, match="expired"):
        authorizer(ours).verify(expired, [SCOPE])


def test_another_client_is_unauthorized_and_a_missing_scope_is_forbidden(pools):
    ours, _ = pools
    other_client = JwtAuthorizer(ours.issuer, ["someone-else"], "unused", _keys=authorizer(ours).keys())
    with pytest.raises(Unauthorized, match="audience"):
        other_client.verify(ours.token(), [SCOPE])
    with pytest.raises(Forbidden):
        authorizer(ours).verify(ours.token(), ["telemetry/read"])
    with pytest.raises(Forbidden):  # an ID token has no scope: routes with scopes take access tokens only
        authorizer(ours).verify(ours.token(kind="IdToken"), [SCOPE])


def test_the_function_never_runs_for_a_refused_token_and_gets_the_claims_for_a_good_one(pools):
    ours, other = pools
    api = local_api(["GET /devices"], result={"statusCode": 200, "body": "{}"})
    (route,) = api.routes
    route.authorizer, route.scopes = authorizer(ours), [SCOPE]
    for headers in ([], [("Authorization", "Bearer " + other.token())]):
        answer = api.handle("GET", "/devices", headers)
        assert answer.status == 401 and json.loads(answer.body) == {"message": "Unauthorized"}
    assert api.runner.events == []
    answer = api.handle("GET", "/devices", [("Authorization", "Bearer " + ours.token())])
    assert answer.status == 200
    (event,) = api.runner.events
    assert event["requestContext"]["authorizer"]["jwt"]["claims"]["cognito:groups"] == "[tenant-acme]"
    assert event["requestContext"]["authorizer"]["jwt"]["scopes"] == [SCOPE]
