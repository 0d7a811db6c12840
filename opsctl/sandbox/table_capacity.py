"""A DynamoDB table's capacity in the sandbox's moto server as AWS sets and reports it.

moto 5.2 stores scalable targets but answers ListTagsForResource with HTTP 500, and the Terraform provider reads
a target's tags after creating it, retrying the 500 for 10+ minutes: `aws_appautoscaling_target` would hang. The
three tagging calls here keep tags per target ARN, as AWS does.

AWS also moves the resource's capacity when a target is registered or updated: "anytime a scaling policy is
invoked or the RegisterScalableTarget API is called, Application Auto Scaling retrieves the current capacity and
compares it to the minimum and maximum capacity. If it falls outside of the minimum-maximum range, then the
capacity is updated" (Application Auto Scaling user guide, "Concepts"). moto only stores min and max, so a
table held at a fixed capacity by a min = max target (terraform/modules/telemetry_table) would keep whatever
capacity it had. Here a DynamoDB table target clamps the PROVISIONED table's read or write capacity into
[min, max] on every register, as AWS does; an on-demand table, or a target of anything else, is left alone.
Policies are stored and never evaluated (no scaling on load).

UpdateTable to PAY_PER_REQUEST: AWS then reports the table's ProvisionedThroughput as 0 read and 0 write units;
moto kept the old numbers, so Terraform read a capacity an on-demand table cannot have and refused the next plan
("read_capacity can not be set when billing_mode is PAY_PER_REQUEST"). UpdateTable to PROVISIONED from on demand
without ProvisionedThroughput: AWS refuses it (ValidationException); moto accepted it and left 0 units. A switch to
PROVISIONED stamps the table with when it happened (`sandbox_provisioned_at`): its burst buckets start empty then
(opsctl/sandbox/dynamodb_capacity.py), as a new table's do at its creation."""

from __future__ import annotations

import json
import time

_TABLE_DIMENSIONS = {
    "dynamodb:table:ReadCapacityUnits": "ReadCapacityUnits",
    "dynamodb:table:WriteCapacityUnits": "WriteCapacityUnits",
}


def clamp_table_capacity(backend, resource_id: str, dimension: str, low: int | None, high: int | None) -> None:
    """What RegisterScalableTarget does to a DynamoDB table on AWS: capacity outside [low, high] is set to the
    nearer bound. Only a PROVISIONED table that exists changes (AWS leaves an inactive resource as it is)."""
    unit = _TABLE_DIMENSIONS.get(dimension)
    if unit is None or not resource_id.startswith("table/") or "/index/" in resource_id:
        return
    from moto.dynamodb.models import dynamodb_backends

    tables = dynamodb_backends[backend.account_id][backend.region_name].tables
    table = tables.get(resource_id.removeprefix("table/"))
    if table is None or table.billing_mode != "PROVISIONED":
        return
    current = int(table.throughput.get(unit) or 0)
    wanted = current
    if low is not None and current < low:
        wanted = low
    if high is not None and wanted > high:
        wanted = high
    if wanted != current:
        table.throughput = {**table.throughput, unit: wanted}


def install() -> None:
    """Both patches (idempotent)."""
    install_on_demand_capacity()
    install_scalable_targets()


def install_on_demand_capacity() -> None:
    """UpdateTable's billing-mode switch, as AWS answers it."""
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_sandbox_on_demand_capacity", False):
        return
    original = DynamoDBBackend.update_table

    def update_table(self, name, attr_definitions, global_index, throughput, billing_mode, *args, **kwargs):
        before = self.get_table(name).billing_mode
        if billing_mode == "PROVISIONED" and before == "PAY_PER_REQUEST" and not throughput:
            raise MockValidationException(
                "One or more parameter values were invalid: ProvisionedThroughput must be specified when "
                "BillingMode is PROVISIONED"
            )
        table = original(self, name, attr_definitions, global_index, throughput, billing_mode, *args, **kwargs)
        if billing_mode == "PROVISIONED" and before == "PAY_PER_REQUEST":
            table.sandbox_provisioned_at = time.time()  # no unused provisioned capacity before this moment
        if billing_mode == "PAY_PER_REQUEST":
            decreases = table.throughput.get("NumberOfDecreasesToday", 0)
            table.throughput = {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": decreases}
        return table

    DynamoDBBackend.update_table = update_table
    DynamoDBBackend._sandbox_on_demand_capacity = True


def install_scalable_targets() -> None:
    """Tagging calls, and RegisterScalableTarget moving a table's capacity into [min, max]."""
    from moto.applicationautoscaling import models, responses

    if getattr(responses.ApplicationAutoScalingResponse, "_sandbox_patched", False):
        return

    def _tags(self) -> dict[str, dict[str, str]]:
        backend = self.applicationautoscaling_backend
        if not hasattr(backend, "sandbox_tags"):
            backend.sandbox_tags = {}
        return backend.sandbox_tags

    def list_tags_for_resource(self):
        arn = self._get_param("ResourceARN")
        return json.dumps({"Tags": dict(_tags(self).get(arn, {}))})

    def tag_resource(self):
        arn = self._get_param("ResourceARN")
        _tags(self).setdefault(arn, {}).update(self._get_param("Tags") or {})
        return json.dumps({})

    def untag_resource(self):
        tags = _tags(self).get(self._get_param("ResourceARN"), {})
        for key in self._get_param("TagKeys") or []:
            tags.pop(key, None)
        return json.dumps({})

    original_register = models.ApplicationAutoscalingBackend.register_scalable_target

    def register_scalable_target(self, namespace, r_id, dimension, min_capacity, max_capacity, *args, **kwargs):
        target = original_register(self, namespace, r_id, dimension, min_capacity, max_capacity, *args, **kwargs)
        if namespace == "dynamodb":
            clamp_table_capacity(self, r_id, dimension, target.min_capacity, target.max_capacity)
        return target

    responses.ApplicationAutoScalingResponse.list_tags_for_resource = list_tags_for_resource
    responses.ApplicationAutoScalingResponse.tag_resource = tag_resource
    responses.ApplicationAutoScalingResponse.untag_resource = untag_resource
    models.ApplicationAutoscalingBackend.register_scalable_target = register_scalable_target
    responses.ApplicationAutoScalingResponse._sandbox_patched = True
