"""The Datadog root (terraform/datadog) offline: its HCL against the provider's committed schema, every
monitor it renders from the catalog (by planning its provider-less definitions module) with a query that
parses, the catalog's threshold, metric and dimensions, and a message that links the runbook."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import hcl2
import pytest

from opsctl.core import tf
from opsctl.core.project import TERRAFORM_DIR
from opsctl.monitoring import thresholds
from tests.terraform.datadog_query import QuerySyntaxError, parse
from tests.terraform.datadog_schema import check

DATADOG = TERRAFORM_DIR / "datadog"
SCHEMA = json.loads((DATADOG / "provider-schema.json").read_text())
CATALOG = thresholds.monitors()
BASE_URL = "https://runbooks.example.com/tp/"
RESOURCES = {
    "stream_name": "tp-ingest",
    "ingest_function_name": "tp-ingest",
    "ingest_failure_queue_name": "tp-ingest-failures",
    "table_name": "tp-readings",
    "alert_function_name": "tp-alert",
    "alert_failure_queue_name": "tp-alert-failures",
    "api_id": "a1b2c3",
    "api_stage_name": "$default",
    "rollup_function_name": "tp-rollup",
    "rollup_queue_name": "tp-rollups",
    "rollup_dlq_name": "tp-rollups-dlq",
    "report_function_name": "tp-report",
    "report_dlq_name": "tp-report-schedule-dlq",
}
COMPARATOR = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


# --- the query parser ------------------------------------------------------------------------------------


def test_parser_reads_the_issue_example():
    q = parse("avg(last_5m):avg:aws.kinesis.get_records_iterator_age_milliseconds{streamname:tp-ingest} > 60000")
    assert (q.time_aggregation, q.window_minutes, q.comparator, q.threshold) == ("avg", 5, ">", 60000)
    assert q.series[0].metric == "aws.kinesis.get_records_iterator_age_milliseconds" and q.series[0].tags == [
        "streamname:tp-ingest"
    ]


def test_parser_reads_ratios_functions_and_groups():
    q = parse(
        "sum(last_1h):100 * sum:aws.lambda.errors{functionname:f}.as_count() / "
        "sum:aws.lambda.invocations{functionname:f} by {region}.as_count() >= 5.5"
    )
    assert [s.metric for s in q.series] == ["aws.lambda.errors", "aws.lambda.invocations"] and q.series[
        0
    ].functions == ["as_count"]
    assert q.window_minutes == 60 and q.threshold == 5.5


@pytest.mark.parametrize(
    "query, expected",
    [
        ("avg(last_5m):avg:aws.lambda.errors{functionname:f} => 1", "a comparator"),
        ("average(last_5m):avg:aws.lambda.errors{functionname:f} > 1", "a time aggregation"),
        ("avg(last_5x):avg:aws.lambda.errors{functionname:f} > 1", "a window like"),
        ("avg(last_9d):avg:aws.lambda.errors{functionname:f} > 1", "a window of 1 minute to 7 days"),
        ("avg(last_5m):avg:aws.lambda.errors{functionname:f > 1", "'}' closing the scope"),
        ("avg(last_5m):avg:aws.lambda.errors{FunctionName:f} > 1", "a tag key (lower case)"),
        ("avg(last_5m):avg:aws.lambda.errors{functionname:f g} > 1", "'}' closing the scope"),
        ("avg(last_5m):avg:errors{functionname:f} > 1", "a metric name like"),
        ("avg(last_5m):avg:aws.lambda.errors{functionname:f}.as_sum() > 1", "a function"),
        ("avg(last_5m):avg:aws.lambda.errors{functionname:f} >", "a numeric threshold"),
        ("avg(last_5m):avg:aws.lambda.errors{functionname:f} > 1 and", "the end of the query"),
        ("avg(last_5m):100 * > 1", "a metric (space aggregation"),
    ],
)
def test_parser_refuses_malformed_queries_and_says_what_it_expected(query: str, expected: str):
    with pytest.raises(QuerySyntaxError, match="expected " + re.escape(expected)):
        parse(query)


# --- the root module against the provider schema ---------------------------------------------------------


def parsed_root() -> dict[str, dict]:
    return {p.name: hcl2.load(p.open()) for p in sorted(DATADOG.glob("*.tf"))}


def test_root_has_a_monitor_per_catalog_entry_and_no_schema_findings():
    files = parsed_root()
    assert check(files, SCHEMA) == []
    monitors = [
        body
        for doc in files.values()
        for r in doc.get("resource", [])
        for name, body in r.get('"datadog_monitor"', r.get("datadog_monitor", {})).items()
    ]
    assert len(monitors) == 1 and "module.definitions.monitors" in str(monitors[0]["for_each"])


def test_schema_check_catches_a_misspelt_argument_in_the_root():
    text = (DATADOG / "main.tf").read_text().replace("  require_full_window = false", "  require_full_windw = false")
    problems = check({"main.tf": hcl2.loads(text)}, SCHEMA)
    assert any("unknown argument 'require_full_windw'" in p for p in problems), problems


# --- every monitor rendered from the catalog --------------------------------------------------------------


def render(tmp_path: Path, resources: dict[str, str]) -> dict[str, dict]:
    """module.definitions' monitors for `resources`, by applying a provider-less root that calls it."""
    source = os.path.relpath(DATADOG / "definitions", tmp_path)
    (tmp_path / "main.tf").write_text(f'''
module "definitions" {{
  source           = "{source}"
  environment      = "prod"
  runbook_base_url = "{BASE_URL}"
  resources        = jsondecode({json.dumps(json.dumps(resources))})
  notify           = {{ critical = "@pagerduty-telemetry" }}
}}
output "monitors" {{
  value = module.definitions.monitors
}}
''')
    env = {**tf.cli_environment(), "TF_DATA_DIR": str(tmp_path / ".tfdata")}
    for args in (["init", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color"]):
        proc = subprocess.run(
            [tf.terraform_binary(), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, f"terraform {args[0]}:\n{proc.stderr}{proc.stdout[-3000:]}"
    out = subprocess.run(
        [tf.terraform_binary(), "output", "-json", "monitors"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return render(tmp_path_factory.mktemp("datadog"), RESOURCES)


def test_every_catalog_entry_is_a_monitor(rendered):
    assert set(rendered) == set(CATALOG)


@pytest.mark.parametrize("mid", sorted(CATALOG))
def test_monitor_query_parses_and_says_what_the_catalog_says(rendered, mid: str):
    m, d = CATALOG[mid], rendered[mid]
    q = parse(d["query"])
    value, _ = thresholds.threshold(m)
    assert q.threshold == value == d["threshold"] and q.comparator == COMPARATOR[m["comparison"]]
    assert q.window_minutes * 60 == m["period_seconds"] * m["evaluation_periods"]
    expected_metrics = [m["datadog"]["metric"]] + (
        [m["datadog"]["denominator_metric"]] if m["datadog"].get("denominator_metric") else []
    )
    assert [s.metric for s in q.series] == expected_metrics
    for s in q.series:
        want = {
            f"{k.lower()}:{RESOURCES[v[1:]] if v.startswith('$') else v}".lower().replace("$", "_")
            for k, v in m["dimensions"].items()
        }
        assert set(s.tags) == want, d["query"]
        assert s.functions == (["as_count"] if m["statistic"] == "Sum" else [])
    assert f"Runbook: {BASE_URL}{m['runbook']}" in d["message"]
    assert ("@pagerduty-telemetry" in d["message"]) == (m["severity"] == "critical")
    assert f"severity:{m['severity']}" in d["tags"] and "env:prod" in d["tags"] and f"monitor:{mid}" in d["tags"]
    assert d["notify_no_data"] == (m["treat_missing_data"] == "breaching")


def test_monitors_of_absent_resources_are_left_out(tmp_path):
    required = {
        k: v
        for k, v in RESOURCES.items()
        if k in ("stream_name", "ingest_function_name", "ingest_failure_queue_name", "table_name")
    }
    got = render(tmp_path, required)
    assert "ingest_iterator_age_critical" in got and not any(
        k.startswith(("api_", "rollup_", "report_", "alert_")) for k in got
    )
