"""The sandbox's moto server (opsctl.sandbox.moto_main, started as `opsctl sandbox up` starts it) enforces a
function role's identity-based policies for the keys of that role's sessions, and only for them: the
administrator (Terraform, opsctl, tests) keeps doing everything."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from opsctl.core.aws import AwsTarget
from opsctl.sandbox import server
from opsctl.sandbox.iam import access_key_of, trusts_lambda
from opsctl.sandbox.runtime.credentials import role_session

REGION = "us-east-1"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("iam-sandbox")
    state = server.start(state_dir=state_dir)
    try:
        yield state.endpoint
    finally:
        server.stop(state_dir)


class World:
    """Two tables, a queue, a topic, a key and a bucket; a function role allowed a part of them."""

    def __init__(self, endpoint: str, name: str):
        self.target = AwsTarget(region=REGION, endpoint_url=endpoint, sandbox=True)
        admin = self.target.client
        self.ddb = admin("dynamodb")
        for table in (f"{name}-mine", f"{name}-other"):
            self.ddb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        self.table_arn = self.ddb.describe_table(TableName=f"{name}-mine")["Table"]["TableArn"]
        self.queue_url = admin("sqs").create_queue(QueueName=f"{name}-q")["QueueUrl"]
        queue_arn = admin("sqs").get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.topic_arn = admin("sns").create_topic(Name=f"{name}-t")["TopicArn"]
        self.key_arn = admin("kms").create_key()["KeyMetadata"]["Arn"]
        admin("kms").create_alias(AliasName=f"alias/{name}", TargetKeyId=self.key_arn)
        self.bucket = f"{name}-bucket"
        admin("s3").create_bucket(Bucket=self.bucket)
        self.policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["dynamodb:BatchWriteItem", "dynamodb:Query"],
                    "Resource": self.table_arn,
                },
                {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn},
                {"Effect": "Allow", "Action": "sns:Publish", "Resource": self.topic_arn},
                {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": self.key_arn},
                {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{self.bucket}/in/*"},
            ],
        }
        self.role_name = f"{name}-role"
        iam = admin("iam")
        self.role_arn = iam.create_role(RoleName=self.role_name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))[
            "Role"
        ]["Arn"]
        iam.put_role_policy(RoleName=self.role_name, PolicyName="least", PolicyDocument=json.dumps(self.policy))
        s = role_session(admin("sts"), self.role_arn, f"{name}-fn")
        self.function = boto3.Session(
            aws_access_key_id=s.access_key_id,
            aws_secret_access_key=s.secret_access_key,
            aws_session_token=s.session_token,
            region_name=REGION,
        )
        self.endpoint = endpoint

    def as_function(self, service: str):
        return self.function.client(service, endpoint_url=self.endpoint)


def _code(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def _put(table: str, n: int = 1) -> dict:
    return {table: [{"PutRequest": {"Item": {"k": {"S": f"k{i}"}}}} for i in range(n)]}


def test_function_role_may_do_what_its_policy_grants_on_its_own_resources(endpoint):
    w = World(endpoint, "grant")
    fn_ddb = w.as_function("dynamodb")
    fn_ddb.batch_write_item(RequestItems=_put("grant-mine", 3))
    assert w.ddb.scan(TableName="grant-mine")["Count"] == 3
    w.as_function("sqs").send_message_batch(QueueUrl=w.queue_url, Entries=[{"Id": "1", "MessageBody": "job"}])
    w.as_function("sns").publish(TopicArn=w.topic_arn, Message="hi")
    w.as_function("kms").encrypt(KeyId="alias/grant", Plaintext=b"x")  # an alias resolves to the granted key
    w.as_function("s3").put_object(Bucket=w.bucket, Key="in/a.json", Body=b"{}")


def test_function_role_is_refused_what_its_policy_does_not_grant(endpoint):
    w = World(endpoint, "deny")
    fn_ddb = w.as_function("dynamodb")
    assert _code(lambda: fn_ddb.batch_write_item(RequestItems=_put("deny-other"))) == "AccessDeniedException"
    assert _code(lambda: fn_ddb.put_item(TableName="deny-mine", Item={"k": {"S": "x"}})) == "AccessDeniedException"
    assert _code(lambda: fn_ddb.list_tables()) == "AccessDeniedException"
    assert w.ddb.scan(TableName="deny-other")["Count"] == 0
    assert _code(lambda: w.as_function("sqs").receive_message(QueueUrl=w.queue_url)) == "AccessDeniedException"
    assert _code(lambda: w.as_function("sns").publish(TopicArn=w.topic_arn + "x", Message="hi")) in (
        "AccessDenied",
        "AuthorizationError",
    )
    assert _code(lambda: w.as_function("kms").decrypt(CiphertextBlob=b"x" * 64, KeyId=w.key_arn)) == (
        "AccessDeniedException"
    )
    assert _code(lambda: w.as_function("s3").put_object(Bucket=w.bucket, Key="out/a", Body=b"")) == "AccessDenied"


def test_a_grant_removed_takes_effect_at_once_and_coming_back_too(endpoint):
    w = World(endpoint, "revoke")
    iam = w.target.client("iam")
    fn_ddb = w.as_function("dynamodb")
    without = {**w.policy, "Statement": w.policy["Statement"][1:]}
    iam.put_role_policy(RoleName=w.role_name, PolicyName="least", PolicyDocument=json.dumps(without))
    assert _code(lambda: fn_ddb.batch_write_item(RequestItems=_put("revoke-mine"))) == "AccessDeniedException"
    iam.put_role_policy(RoleName=w.role_name, PolicyName="least", PolicyDocument=json.dumps(w.policy))
    fn_ddb.batch_write_item(RequestItems=_put("revoke-mine"))
    assert w.ddb.scan(TableName="revoke-mine")["Count"] == 1


def test_administrator_and_other_roles_are_not_enforced(endpoint):
    w = World(endpoint, "admin")
    w.ddb.batch_write_item(RequestItems=_put("admin-other"))  # the sandbox's admin keys: anything
    iam = w.target.client("iam")
    trust = {**LAMBDA_TRUST, "Statement": [{**LAMBDA_TRUST["Statement"][0], "Principal": {"AWS": "*"}}]}
    arn = iam.create_role(RoleName="operator", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    creds = w.target.client("sts").assume_role(RoleArn=arn, RoleSessionName="op")["Credentials"]
    operator = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    operator.batch_write_item(RequestItems=_put("admin-other", 2))
    assert w.ddb.scan(TableName="admin-other")["Count"] == 2


def test_role_sessions_are_reused_until_near_expiry(endpoint):
    w = World(endpoint, "cache")
    sts = w.target.client("sts")
    assert role_session(sts, w.role_arn, "cache-fn") is role_session(sts, w.role_arn, "cache-fn")


def test_header_and_trust_policy_parsing():
    assert access_key_of("AWS4-HMAC-SHA256 Credential=ASIAX/20261201/us-east-1/dynamodb/aws4_request, S=1") == ("ASIAX")
    assert access_key_of("") is None
    assert trusts_lambda(json.dumps(LAMBDA_TRUST))
    assert not trusts_lambda({"Statement": [{"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}}]})
    assert not trusts_lambda("not json")


def test_lambda_rest_calls_are_authorised_by_the_function_arn_in_the_path(endpoint):
    w = World(endpoint, "lam")
    admin = w.target.client("lambda")
    fn_arn = admin.create_function(
        FunctionName="lam-consumer",
        Runtime="python3.12",
        Role=w.role_arn,
        Handler="x.handler",
        Code={"ZipFile": _zip()},
    )["FunctionArn"]
    policy = {
        **w.policy,
        "Statement": [
            *w.policy["Statement"],
            {"Effect": "Allow", "Action": "lambda:GetFunctionConcurrency", "Resource": fn_arn},
            {"Effect": "Allow", "Action": "lambda:ListEventSourceMappings", "Resource": "*"},
        ],
    }
    w.target.client("iam").put_role_policy(RoleName=w.role_name, PolicyName="least", PolicyDocument=json.dumps(policy))
    lam = w.as_function("lambda")
    lam.get_function_concurrency(FunctionName="lam-consumer")
    lam.list_event_source_mappings(FunctionName="lam-consumer")
    assert _code(lambda: lam.get_function_configuration(FunctionName="lam-consumer")) == "AccessDeniedException"


def _zip() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()
