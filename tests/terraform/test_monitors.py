"""The monitor catalog and the CloudWatch alarms Terraform makes of it: every entry is a well-formed alarm
definition whose threshold is in the unit of its metric, every entry becomes an alarm (planned by the real
module, offline) with that threshold and its runbook link, optional resources leave their alarms out, and
every runbook page is reachable from an alarm or the procedure index."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from opsctl.core import tf
from opsctl.core.project import ROOT, TERRAFORM_DIR
from opsctl.monitoring import thresholds

MODULE = TERRAFORM_DIR / "modules" / "monitors"
CATALOG = thresholds.monitors()
RUNBOOKS = ROOT / "runbooks"
BASE_URL = "https://runbooks.example.com/tp/"

# The unit CloudWatch reports each metric in (AWS service docs): a threshold in another unit never fires
# when it should (the classic: an iterator age threshold "in hours" set in seconds on a milliseconds metric).
METRIC_UNITS = {
    ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds"): "ms",
    ("AWS/Kinesis", "WriteProvisionedThroughputExceeded"): "count",
    ("AWS/Kinesis", "ReadProvisionedThroughputExceeded"): "count",
    ("AWS/Lambda", "IteratorAge"): "ms",
    ("AWS/Lambda", "Throttles"): "count",
    ("AWS/Lambda", "Invocations"): "count",
    ("AWS/Lambda", "Errors"): "count",
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): "count",
    ("AWS/SQS", "ApproximateAgeOfOldestMessage"): "seconds",
    ("AWS/DynamoDB", "WriteThrottleEvents"): "count",
    ("AWS/DynamoDB", "ReadThrottleEvents"): "count",
    ("AWS/DynamoDB", "SystemErrors"): "count",
    ("AWS/ApiGateway", "5xx"): "count",
    ("AWS/ApiGateway", "Count"): "count",
    ("AWS/ApiGateway", "Latency"): "ms",
    ("TelemetryPipeline", "RecordsQuarantined"): "count",  # the ingest function's EMF metric (functions/ingest)
    ("TelemetryPipeline", "ReportsGenerated"): "count",  # functions/capacity_report/handler.py, 1 per stored report
}
STATISTICS = {"Maximum", "Minimum", "Sum", "Average", "SampleCount"}
COMPARISONS = {
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
}
REQUIRED_RESOURCES = {"stream_name", "ingest_function_name", "ingest_failure_queue_name", "table_name"}

# What the issue asks to be covered: (namespace, metric) pairs and, where it matters, the resource.
COVERAGE = [
    ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "$stream_name"),
    ("AWS/Kinesis", "WriteProvisionedThroughputExceeded", "$stream_name"),
    ("AWS/Kinesis", "ReadProvisionedThroughputExceeded", "$stream_name"),
    *[
        (ns, metric, fn)
        for fn in ("$ingest_function_name", "$alert_function_name", "$rollup_function_name")
        for ns, metric in (("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"))
    ],
    ("AWS/Lambda", "IteratorAge", "$ingest_function_name"),
    ("AWS/Lambda", "IteratorAge", "$alert_function_name"),
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "$ingest_failure_queue_name"),
    ("AWS/SQS", "ApproximateAgeOfOldestMessage", "$ingest_failure_queue_name"),
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "$rollup_dlq_name"),
    ("AWS/SQS", "ApproximateAgeOfOldestMessage", "$rollup_dlq_name"),
    ("AWS/SQS", "ApproximateAgeOfOldestMessage", "$rollup_queue_name"),
    ("AWS/DynamoDB", "WriteThrottleEvents", "$table_name"),
    ("AWS/DynamoDB", "ReadThrottleEvents", "$table_name"),
    ("AWS/DynamoDB", "SystemErrors", "$table_name"),
    ("AWS/ApiGateway", "5xx", "$api_id"),
    ("AWS/ApiGateway", "Latency", "$api_id"),
    # The report's own metric (Invocations counts failed and retried runs too), its errors, its schedule's DLQ.
    ("TelemetryPipeline", "ReportsGenerated", "$report_function_name"),
    ("AWS/Lambda", "Errors", "$report_function_name"),
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "$report_dlq_name"),
]


# One xdist group: the module's `all_alarms` fixture is a terraform plan (~15-35 s); spread over the workers, each
# worker that ran one of its tests planned it again.
pytestmark = pytest.mark.xdist_group("terraform-monitors")


def module_resource_inputs() -> set[str]:
    text = (MODULE / "main.tf").read_text()
    block = text[text.index("resources = {") :]
    block = block[: block.index("}")]
    return set(re.findall(r"^\s*(\w+)\s*=", block, re.M))


# --- the catalog ------------------------------------------------------------------------------------------


def test_catalog_covers_everything_the_issue_lists():
    present = {(m["namespace"], m["metric_name"], ref) for m in CATALOG.values() for ref in m["dimensions"].values()}
    missing = [c for c in COVERAGE if c not in present]
    assert not missing, f"no monitor for {missing}"
    report = CATALOG["report_not_run"]
    # "no report in 26 h": every hour of 26 without a stored report. No data at all notifies through
    # INSUFFICIENT_DATA, where a new alarm starts silently: a fresh stack is not paged before its first run.
    assert report["period_seconds"] * report["evaluation_periods"] == 26 * 3600 and report["datapoints_to_alarm"] == 26
    assert (report["namespace"], report["metric_name"]) == ("TelemetryPipeline", "ReportsGenerated")
    assert (
        report["comparison"] == "LessThanThreshold"
        and report["threshold_count"] == 1
        and report["treat_missing_data"] == "missing"
        and report["notify_on_insufficient_data"] is True
    )
    assert not any(m.get("notify_on_insufficient_data") for mid, m in CATALOG.items() if mid != "report_not_run")
    assert CATALOG["api_p99_latency"]["statistic"] == "p99"
    assert (
        CATALOG["api_5xx_rate"]["denominator_metric_name"] == "Count" and "threshold_percent" in CATALOG["api_5xx_rate"]
    )


@pytest.mark.parametrize("mid", sorted(CATALOG))
def test_catalog_entry_is_a_valid_alarm_with_its_threshold_in_the_metrics_unit(mid: str):
    m = CATALOG[mid]
    assert re.fullmatch(r"[a-z0-9_]{1,50}", mid)
    value, unit = thresholds.threshold(m)  # exactly one threshold_<unit> key
    assert unit in thresholds.THRESHOLD_UNITS, (
        f"{mid}: threshold_{unit}: the unit must be one of {sorted(thresholds.THRESHOLD_UNITS)}"
    )
    assert isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    expected = "percent" if m.get("denominator_metric_name") else METRIC_UNITS[(m["namespace"], m["metric_name"])]
    assert unit == expected, f"{mid}: {m['namespace']} {m['metric_name']} is in {expected}, the threshold says {unit}"
    if m.get("denominator_metric_name"):
        assert METRIC_UNITS[(m["namespace"], m["denominator_metric_name"])] == "count" and m["statistic"] == "Sum"
        assert 0 < value <= 100
    assert m["statistic"] in STATISTICS or re.fullmatch(r"p(\d{1,2}(\.\d{1,2})?|100)", m["statistic"]), m["statistic"]
    assert m["comparison"] in COMPARISONS
    # PutMetricAlarm: period 10, 20, 30 or a multiple of 60; period x periods at most 1 day below 1-hour periods,
    # 7 days above.
    period, periods = m["period_seconds"], m["evaluation_periods"]
    assert period in (10, 20, 30) or (period % 60 == 0 and period > 0)
    assert period * periods <= (86400 if period < 3600 else 604800), (
        f"{mid}: {period} s x {periods} exceeds what CloudWatch evaluates"
    )
    assert 1 <= m["datapoints_to_alarm"] <= periods
    assert m["treat_missing_data"] in {"breaching", "notBreaching", "ignore", "missing"}
    assert m["severity"] in {"warning", "critical"}
    assert (ROOT / m["runbook"]).is_file() and m["runbook"].startswith("runbooks/"), (
        f"{mid}: runbook {m['runbook']} missing"
    )
    refs = {v[1:] for v in m["dimensions"].values() if v.startswith("$")}
    assert refs and refs <= module_resource_inputs(), f"{mid}: unknown resources {refs - module_resource_inputs()}"
    if m["namespace"].startswith("AWS/"):
        assert m["datadog"]["metric"].startswith("aws."), f"{mid}: an AWS/ metric is aws.* in Datadog"
    else:  # our own EMF namespace, collected by the integration's custom metrics as <namespace>.<metric in snake_case>
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", m["metric_name"]).lower()
        assert m["datadog"]["metric"] == f"{m['namespace'].lower()}.{snake}", f"{mid}: {m['datadog']['metric']}"
    assert bool(m.get("denominator_metric_name")) == bool(m["datadog"].get("denominator_metric"))


def test_opsctl_iterator_age_defaults_are_the_alarms_thresholds():
    warn, crit = thresholds.iterator_age_ms()
    assert (warn, crit) == (
        CATALOG["ingest_iterator_age_warning"]["threshold_ms"],
        CATALOG["ingest_iterator_age_critical"]["threshold_ms"],
    )
    assert warn < crit


# --- the Terraform module, planned offline ---------------------------------------------------------------

ROOT_TF = """
provider "aws" {{
  region                      = "eu-west-1"
  access_key                  = "offline"
  secret_key                  = "offline"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}}

module "monitors" {{
  source           = "{module}"
  name_prefix      = "tp-test"
  alerts_topic_arn = "arn:aws:sns:eu-west-1:123456789012:tp-test-alerts"
  runbook_base_url = "{base}"
{inputs}
}}
"""
ALL_INPUTS = {
    "stream_name": "s",
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


def plan_alarms(tmp_path: Path, plugin_dir: str | None, inputs: dict[str, str]) -> dict[str, dict]:
    """The planned aws_cloudwatch_metric_alarm values by catalog id, from `terraform plan` of a root calling the
    module."""
    body = "\n".join(f'  {k} = "{v}"' for k, v in inputs.items())
    # A relative source: Terraform copies a module given by absolute path, away from the catalog it reads.
    (tmp_path / "main.tf").write_text(
        ROOT_TF.format(module=os.path.relpath(MODULE, tmp_path), base=BASE_URL, inputs=body)
    )
    env = {**tf.cli_environment(), "TF_DATA_DIR": str(tmp_path / ".tfdata")}

    def terraform(*args: str) -> str:
        proc = subprocess.run(
            [tf.terraform_binary(), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, f"terraform {args[0]} failed:\n{proc.stderr}{proc.stdout[-3000:]}"
        return proc.stdout

    terraform("init", "-input=false", "-no-color", *([f"-plugin-dir={plugin_dir}"] if plugin_dir else []))
    terraform("plan", "-input=false", "-no-color", "-refresh=false", "-out=plan.bin")
    plan = json.loads(terraform("show", "-json", "plan.bin"))
    return {
        r["index"]: r["change"]["after"] for r in plan["resource_changes"] if r["type"] == "aws_cloudwatch_metric_alarm"
    }


@pytest.fixture(scope="module")
def all_alarms(tmp_path_factory, plugin_dir):
    return plan_alarms(tmp_path_factory.mktemp("monitors-all"), plugin_dir, ALL_INPUTS)


def test_every_catalog_entry_is_an_alarm_when_every_resource_exists(all_alarms):
    assert set(all_alarms) == set(CATALOG)


@pytest.mark.parametrize("mid", sorted(CATALOG))
def test_alarm_has_the_catalog_threshold_window_runbook_and_actions(all_alarms, mid: str):
    m, a = CATALOG[mid], all_alarms[mid]
    value, _ = thresholds.threshold(m)
    assert a["alarm_name"] == f"tp-test-{mid}"
    assert a["threshold"] == value and a["comparison_operator"] == m["comparison"]
    assert a["evaluation_periods"] == m["evaluation_periods"] and a["datapoints_to_alarm"] == m["datapoints_to_alarm"]
    assert a["treat_missing_data"] == m["treat_missing_data"]
    assert f"Runbook: {BASE_URL}{m['runbook']}" in a["alarm_description"] and len(a["alarm_description"]) <= 1024
    assert a["alarm_description"].startswith(m["severity"].upper())
    topic = "arn:aws:sns:eu-west-1:123456789012:tp-test-alerts"
    assert a["alarm_actions"] == [topic] and a["ok_actions"] == [topic]
    assert (a["insufficient_data_actions"] or []) == ([topic] if m.get("notify_on_insufficient_data") else [])
    dims = {k: ALL_INPUTS[v[1:]] if v.startswith("$") else v for k, v in m["dimensions"].items()}
    if m.get("denominator_metric_name"):
        queries = {q["id"]: q for q in a["metric_query"]}
        assert queries["e1"]["return_data"] is True and "100 * m1 / m2" in queries["e1"]["expression"]
        for qid, name in (("m1", m["metric_name"]), ("m2", m["denominator_metric_name"])):
            (metric,) = queries[qid]["metric"]
            assert (
                metric["metric_name"],
                metric["namespace"],
                metric["dimensions"],
                metric["period"],
                metric["stat"],
            ) == (name, m["namespace"], dims, m["period_seconds"], m["statistic"])
    else:
        assert (a["metric_name"], a["namespace"], a["dimensions"], a["period"]) == (
            m["metric_name"],
            m["namespace"],
            dims,
            m["period_seconds"],
        )
        if m["statistic"].startswith("p"):
            assert a["extended_statistic"] == m["statistic"] and a["statistic"] is None
        else:
            assert a["statistic"] == m["statistic"] and a["extended_statistic"] is None


def test_monitors_of_absent_resources_are_left_out(tmp_path, plugin_dir):
    inputs = {k: v for k, v in ALL_INPUTS.items() if k in REQUIRED_RESOURCES}
    alarms = plan_alarms(tmp_path, plugin_dir, inputs)
    expected = {
        mid
        for mid, m in CATALOG.items()
        if {v[1:] for v in m["dimensions"].values() if v.startswith("$")} <= REQUIRED_RESOURCES
    }
    assert set(alarms) == expected and "ingest_iterator_age_critical" in expected and "api_5xx_rate" not in expected


def test_pipeline_wires_the_monitors_to_the_alerts_topic_in_every_environment():
    text = (TERRAFORM_DIR / "modules" / "pipeline" / "main.tf").read_text()
    block = text[text.index('module "monitors"') :]
    assert 'source = "../monitors"' in block and "alerts_topic_arn = module.alerts_topic.topic_arn" in block
    for env in ("local", "dev", "prod"):
        assert "runbook_base_url = var.runbook_base_url" in (TERRAFORM_DIR / "envs" / env / "main.tf").read_text()


# --- runbooks ---------------------------------------------------------------------------------------------


def test_every_runbook_page_is_linked_from_an_alarm_or_the_procedure_index():
    linked = {Path(m["runbook"]).name for m in CATALOG.values()}
    index = (RUNBOOKS / "README.md").read_text()
    indexed = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    pages = {p.name for p in RUNBOOKS.glob("*.md")} - {"README.md"}
    orphans = pages - linked - indexed
    assert not orphans, f"runbook pages nobody links: {sorted(orphans)}"
    assert linked <= pages and indexed <= pages, f"links to missing pages: {sorted((linked | indexed) - pages)}"
    assert linked <= indexed, f"alarm pages missing from runbooks/README.md: {sorted(linked - indexed)}"
