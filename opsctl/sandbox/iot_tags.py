"""IoT tagging for the sandbox's moto server: ListTagsForResource, TagResource and UntagResource.

moto 5.2 stores IoT thing types, policies and topic rules but answers the tagging calls with HTTP 500, and the
Terraform provider reads tags after creating any of them, retrying the 500 until its timeout: `sandbox up`
would hang on the IoT front door. The three calls keep tags per resource ARN, as AWS does; nothing else of
moto's IoT changes."""

from __future__ import annotations

import json


def enable_iot_tagging() -> None:
    """Adds the three tagging operations to moto's IoT responses (idempotent)."""
    from moto.core.responses import ActionResult, EmptyResult
    from moto.iot import models, responses

    if getattr(responses.IoTResponse, "_sandbox_tagging", False):
        return

    def _tags(self) -> dict[str, dict[str, str]]:
        backend = self.iot_backend
        if not hasattr(backend, "sandbox_tags"):
            backend.sandbox_tags = {}
        return backend.sandbox_tags

    def list_tags_for_resource(self):
        arn = self._get_param("resourceArn")
        tags = _tags(self).get(arn, {})
        return ActionResult({"tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]})

    def tag_resource(self):
        body = json.loads(self.body or "{}")
        arn = body.get("resourceArn")
        _tags(self).setdefault(arn, {}).update({t["Key"]: t.get("Value", "") for t in body.get("tags", [])})
        return EmptyResult()

    def untag_resource(self):
        body = json.loads(self.body or "{}")
        tags = _tags(self).get(body.get("resourceArn"), {})
        for key in body.get("tagKeys", []):
            tags.pop(key, None)
        return EmptyResult()

    responses.IoTResponse.list_tags_for_resource = list_tags_for_resource
    responses.IoTResponse.tag_resource = tag_resource
    responses.IoTResponse.untag_resource = untag_resource
    responses.IoTResponse._sandbox_tagging = True
    del models  # imported so the backend module is loaded before the responses bind to it
