"""The sandbox's moto server reports and sets a table's capacity as AWS does (opsctl/sandbox/table_capacity.py):
scalable targets can be tagged (Terraform reads their tags), registering one moves a PROVISIONED table's
capacity into [min, max], an on-demand table reports 0 units, and a switch to PROVISIONED needs capacity."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from opsctl.sandbox import table_capacity

REGION = "eu-west-1"
READ = "dynamodb:table:ReadCapacityUnits"
WRITE = "dynamodb:table:WriteCapacityUnits"


@pytest.fixture
def aws():
    table_capacity.install()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        aas = boto3.client("application-autoscaling", region_name=REGION)
        yield ddb, aas


def _table(ddb, name: str, billing: str = "PROVISIONED", rcu: int = 3, wcu: int = 3) -> None:
    extra = {"ProvisionedThroughput": {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}}
    ddb.create_table(
        TableName=name,
        BillingMode=billing,
        AttributeDefinitions=[{"AttributeName": "device_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}],
        **(extra if billing == "PROVISIONED" else {}),
    )


def _capacity(ddb, name: str) -> tuple[int, int]:
    pt = ddb.describe_table(TableName=name)["Table"]["ProvisionedThroughput"]
    return pt["ReadCapacityUnits"], pt["WriteCapacityUnits"]


def _register(aas, name: str, dimension: str, low: int, high: int) -> str:
    return aas.register_scalable_target(
        ServiceNamespace="dynamodb",
        ResourceId=f"table/{name}",
        ScalableDimension=dimension,
        MinCapacity=low,
        MaxCapacity=high,
    )["ScalableTargetARN"]


def test_registering_a_target_moves_the_capacity_into_its_range_on_create_and_update(aws):
    ddb, aas = aws
    _table(ddb, "readings", rcu=3, wcu=50)
    _register(aas, "readings", READ, 7, 7)  # below min: raised to it
    _register(aas, "readings", WRITE, 5, 20)  # above max: lowered to it
    assert _capacity(ddb, "readings") == (7, 20)
    _register(aas, "readings", READ, 1, 100)  # inside the new range: left as it is
    assert _capacity(ddb, "readings") == (7, 20)
    _register(aas, "readings", READ, 12, 12)  # an update of the same target moves it too
    assert _capacity(ddb, "readings") == (12, 20)


def test_an_on_demand_table_keeps_zero_capacity_whatever_is_registered(aws):
    ddb, aas = aws
    _table(ddb, "ondemand", billing="PAY_PER_REQUEST")
    _register(aas, "ondemand", READ, 7, 7)
    assert _capacity(ddb, "ondemand") == (0, 0)


def test_switching_to_on_demand_reports_zero_and_back_needs_capacity(aws):
    ddb, _ = aws
    _table(ddb, "switch", rcu=9, wcu=11)
    ddb.update_table(TableName="switch", BillingMode="PAY_PER_REQUEST")
    assert _capacity(ddb, "switch") == (0, 0)
    with pytest.raises(ClientError) as refused:
        ddb.update_table(TableName="switch", BillingMode="PROVISIONED")
    assert "ProvisionedThroughput must be specified" in str(refused.value)
    ddb.update_table(
        TableName="switch",
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 4, "WriteCapacityUnits": 6},
    )
    assert _capacity(ddb, "switch") == (4, 6)


def test_scalable_targets_keep_their_tags(aws):
    ddb, aas = aws
    _table(ddb, "tagged")
    arn = _register(aas, "tagged", READ, 1, 10)
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {}
    aas.tag_resource(ResourceARN=arn, Tags={"env": "local", "owner": "telemetry"})
    aas.untag_resource(ResourceARN=arn, TagKeys=["owner"])
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"env": "local"}
