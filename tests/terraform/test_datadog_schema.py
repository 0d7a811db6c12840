"""The offline Datadog schema check finds what `terraform validate` would (docs/moto-gaps.md §The toolchain: the Datadog
provider cannot be installed here), against the schema committed from the provider's own types."""

import io
import json
from pathlib import Path

import hcl2
import pytest

from tests.terraform.datadog_schema import check

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "terraform" / "datadog" / "provider-schema.json").read_text())

GOOD = """
provider "datadog" {
  api_url = var.api_url
}
resource "datadog_monitor" "lag" {
  name    = "ingest lag"
  type    = "query alert"
  query   = "max(last_5m):max:aws.lambda.iterator_age{functionname:x} > 600000"
  message = "see runbook"
  tags    = ["service:telemetry"]
  monitor_thresholds {
    critical = 600000
    warning  = 60000
  }
}
"""


def _problems(text: str) -> list[str]:
    return check({"main.tf": hcl2.load(io.StringIO(text))}, SCHEMA)


def test_schema_came_from_the_provider_and_knows_the_monitor():
    monitor = SCHEMA["resources"]["datadog_monitor"]
    assert SCHEMA["provider_version"] and "cdktf/provider-datadog" in SCHEMA["source"]
    assert {n for n, a in monitor["arguments"].items() if a["required"]} == {"name", "type", "query", "message"}
    assert "critical" in monitor["blocks"]["monitor_thresholds"]["arguments"]


def test_a_correct_monitor_has_no_findings():
    assert _problems(GOOD) == []


@pytest.mark.parametrize(
    "edit,finding",
    [
        (("  tags ", "  tagz "), "unknown argument 'tagz'"),
        (('  message = "see runbook"\n', ""), "missing required argument 'message'"),
        (("    warning  = 60000", "    warn     = 60000"), "monitor_thresholds: unknown argument 'warn'"),
        (("monitor_thresholds {", "thresholds {"), "unknown argument 'thresholds'"),
        (("  api_url = var.api_url", "  api_uri = var.api_url"), "provider datadog: unknown argument 'api_uri'"),
    ],
)
def test_each_mistake_is_named(edit, finding):
    problems = _problems(GOOD.replace(*edit))
    assert any(finding in p for p in problems), problems


def test_a_resource_type_outside_the_schema_is_a_finding():
    problems = _problems('resource "datadog_dashboard" "d" {\n  title = "x"\n}\n')
    assert problems and "not in the committed schema" in problems[0]


def test_dynamic_blocks_are_checked_like_static_ones():
    text = GOOD.replace(
        "  monitor_thresholds {",
        '  dynamic "monitor_thresholds" {\n    for_each = [1]\n    content {\n      critcal = 1\n    }\n  }\n  '
        "scheduling_optionz {",
    )
    problems = _problems(text)
    assert any("monitor_thresholds: unknown argument 'critcal'" in p for p in problems), problems
    assert any("unknown argument 'scheduling_optionz'" in p for p in problems), problems
