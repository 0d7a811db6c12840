"""The capacity report and the monitors after demo-like traffic, read right away as `make demo` reads them.

Traffic of this module's own devices (rpd-*) goes through every resource the catalog and the report watch: the
stream, ingest, the readings and rollups tables, the rollup queue and its DLQ, the alert path (poison makes ERROR
lines), the device registry and its index, the read API, and the report schedule. Then, with no flush of the
sandbox's metrics by the test (a user does not flush either):

- the HTML report (`opsctl report --format html`, and the scheduled function's copy) is parsed: every chart whose
  resource had this traffic has, in each series the traffic fills, a datapoint in the minutes of the traffic;
- `opsctl monitors --output json` judges every catalog monitor from data, except those in NO_DATA_EXPECTED,
  each with the reason it honestly has none.

The worker's sandbox is shared: other modules' traffic may add datapoints, so the checks ask for datapoints at or
after this module's first minute, and the ones this traffic must make non-zero to be above zero."""

from __future__ import annotations

import html.parser
import json
import time
from pathlib import Path

import pytest

from opsctl.monitoring import thresholds
from opsctl.sandbox import traffic

from .sandbox_harness import opsctl

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-report-data")]

PREFIX = "rpd-"
TENANT = "rpdtenant"
DEVICES, RECORDS, POISON = 3, 30, 4

# Catalog monitors that have no datapoint after this traffic, and why. Everything else must be judged from data.
NO_DATA_EXPECTED = {
    "ingest_failure_queue_oldest_age": (
        "the ingest on-failure queue stays empty (every batch succeeds): SQS publishes ApproximateAgeOfOldestMessage "
        "only while a message waits (docs/architecture.md, AWS/SQS metrics of the sandbox)"
    ),
}


def _own(item: traffic.Outgoing) -> traffic.Outgoing:
    if item.reading is None:  # poison: only its partition key names a device
        return traffic.Outgoing(item.partition_key.replace("dev-", PREFIX, 1), item.data, item.kind, None)
    reading = {**item.reading, "device_id": item.reading["device_id"].replace("dev-", PREFIX, 1)}
    data = json.dumps(reading, separators=(",", ":")).encode()
    return traffic.Outgoing(item.partition_key.replace("dev-", PREFIX, 1), data, item.kind, reading)


@pytest.fixture(scope="module")
def served(sandbox, tmp_path_factory):
    """Demo-like traffic through every watched resource, then the readers, in the order of `make demo`."""
    started = time.time()
    creds = tmp_path_factory.mktemp("rpd-creds")
    opsctl(sandbox, "devices", "register", f"{PREFIX}0001", "--tenant", TENANT, "--credentials", str(creds))
    opsctl(sandbox, "sandbox", "user", "add", f"{PREFIX}reader", "--tenant", TENANT)
    api = opsctl(
        sandbox,
        "sandbox",
        "api",
        "--user",
        f"{PREFIX}reader",
        "--get",
        "/devices",  # a Query on the registry's tenant index
        "--get",
        f"/devices/{PREFIX}0001/latest",  # the registry's GetItem; no readings: the function's 404 (a 4xx)
        check=False,
    )
    assert f"{PREFIX}0001" in api.stdout, api.stdout + api.stderr
    items = [_own(i) for i in traffic.mix(traffic.readings(DEVICES, RECORDS, seed=31), traffic.poison(POISON))]
    assert traffic.send(sandbox.client("kinesis"), sandbox.outputs["stream_name"], items).sent == len(items)
    opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json")  # ingest, rollup, alert (poison's ERRORs)
    sqs = sandbox.client("sqs")
    # a job waiting on the rollup queue and one in its DLQ while the monitors look (drained and removed after)
    job = json.dumps({"device_id": f"{PREFIX}0000", "hour_start": (int(started) // 3600) * 3_600_000})
    sqs.send_message(QueueUrl=sandbox.outputs["rollup_queue_url"], MessageBody=job)
    sqs.send_message(QueueUrl=sandbox.outputs["rollup_dlq_url"], MessageBody=job)
    out_dir = tmp_path_factory.mktemp("rpd-scheduled")
    scheduled = json.loads(
        opsctl(sandbox, "sandbox", "scheduled-report", "--out-dir", str(out_dir), "--output", "json").stdout
    )
    monitors = json.loads(opsctl(sandbox, "monitors", "--output", "json", check=False).stdout)
    page = tmp_path_factory.mktemp("rpd-report") / "capacity.html"
    opsctl(sandbox, "report", "--window", "1h", "--format", "html", "--file", str(page))
    yield {
        "started": started,
        "pages": {"opsctl report": page.read_text(), "scheduled": Path(scheduled["local_copy"]).read_text()},
        "monitors": monitors,
    }
    opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json")  # the waiting job, as the worker would
    dlq = sandbox.outputs["rollup_dlq_url"]
    for _ in range(5):  # the DLQ message (the DLQ holds nothing else: nothing failed)
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
        for m in got:
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
        if not got:
            break


class _Charts(html.parser.HTMLParser):
    """Every <svg class="chart"> of the page: its title, its time axis and, per series group, the points drawn."""

    def __init__(self):
        super().__init__()
        self.charts: list[dict] = []
        self._chart: dict | None = None
        self._series: str | None = None
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and "chart" in (a.get("class") or ""):
            self._chart = {"resource": a.get("data-resource"), "title": "", "axes": [], "series": {}, "texts": []}
            return
        c = self._chart
        if c is None:
            return
        if tag == "title":
            self._in_title = True
        elif tag == "line" and a.get("stroke") == "#888":  # the two axes
            c["axes"].append(tuple(float(a[k]) for k in ("x1", "y1", "x2", "y2")))
        elif tag == "g" and a.get("class") == "series":
            self._series = a["data-series"]
            c["series"][self._series] = []
        elif tag == "polyline" and self._series is not None:
            c["series"][self._series] += [tuple(float(v) for v in p.split(",")) for p in a["points"].split()]
        elif tag == "circle" and self._series is not None:
            c["series"][self._series].append((float(a["cx"]), float(a["cy"])))

    def handle_endtag(self, tag):
        if tag == "svg" and self._chart is not None:
            self.charts.append(self._chart)
            self._chart = None
        elif tag == "g":
            self._series = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._chart is None:
            return
        if self._in_title:
            self._chart["title"] += data
        else:
            self._chart["texts"].append(data)


def _points(chart: dict) -> dict[str, list[tuple[float, float]]]:
    """Per series, (epoch seconds, height above the baseline in pixels) of each point, from the chart's axes and its
    "time (UTC), START to END" label."""
    import datetime as dt

    (label,) = [t for t in chart["texts"] if t.startswith("time (UTC), ")]
    start, end = (
        dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
        for s in label.removeprefix("time (UTC), ").split(" to ")
    )
    (baseline,) = [ax for ax in chart["axes"] if ax[1] == ax[3]]
    x0, y0, x1 = baseline[0], baseline[1], baseline[2]
    return {
        name: [(start + (x - x0) / (x1 - x0) * (end - start), y0 - y) for x, y in pts]
        for name, pts in chart["series"].items()
    }


def test_every_chart_the_traffic_fills_has_datapoints_of_its_minutes(sandbox, served):
    out = sandbox.outputs
    since = int(served["started"]) // 60 * 60 - 5  # the traffic's first minute; 5 s: a pixel of an hour is ~4 s
    registry, index = out["device_registry_table_name"], out["device_registry_tenant_index_name"]
    q = {k: out[k].rsplit("/", 1)[-1] for k in out if k.endswith("_queue_url") or k.endswith("_dlq_url")}
    # (chart resource, series) this traffic makes non-zero in its minutes, and the queues whose depth is charted
    filled_by_pipeline = {
        (out["table_name"], "write units/s"),  # ingest's BatchWriteItem
        (out["table_name"], "read units/s"),  # the rollup worker's Query
        (out["rollup_table_name"], "write units/s"),  # PutItem
        (out["rollup_table_name"], "read units/s"),  # the GetItem of computed_at
        (out["stream_name"], "records/s"),
    }
    filled_by_devices = {
        (registry, "write units/s"),  # devices register
        (registry, "read units/s"),  # the API's GetItem of the device
        (f"{registry}/{index}", "write units/s"),  # the new item's index entry
        (f"{registry}/{index}", "read units/s"),  # GET /devices
    }
    pipeline_queues = [q["ingest_failure_queue_url"], q["rollup_queue_url"], q["rollup_dlq_url"]]
    expected = {  # the scheduled function reports TABLE_NAMES and QUEUE_URLS of its environment (pipeline module)
        "opsctl report": (filled_by_pipeline | filled_by_devices, sorted(q.values())),
        "scheduled": (filled_by_pipeline, pipeline_queues),
    }
    for which, page in served["pages"].items():
        parser = _Charts()
        parser.feed(page)
        series = {(c["resource"], name): pts for c in parser.charts for name, pts in _points(c).items()}
        filled, queues = expected[which]
        for resource, name in sorted(filled):
            pts = series.get((resource, name))
            assert pts is not None, f"{which}: no chart series {name!r} of {resource}: {sorted(series)}"
            mine = [h for t, h in pts if t >= since]
            assert mine and max(mine) > 0, f"{which}: {resource} {name}: no datapoint above zero since the traffic"
        lag = series[(out["ingest_function_name"], "iterator age")]
        assert [t for t, _ in lag if t >= since], f"{which}: the ingest consumer's lag has no datapoint since then"
        for name in queues:
            depth = series[(name, "messages visible")]
            assert [t for t, _ in depth if t >= since], f"{which}: queue {name} has no depth datapoint since then"
        waiting = [h for t, h in series[(q["rollup_dlq_url"], "messages visible")] if t >= since]
        assert max(waiting) > 0, f"{which}: the message in the rollup DLQ is not on its chart"


def test_every_monitor_with_traffic_is_judged_from_data(sandbox, served):
    judged = {m["id"]: m for m in served["monitors"]["monitors"]}
    assert set(judged) == set(thresholds.monitors()), served["monitors"]["not_applicable"]
    no_data = {mid for mid, m in judged.items() if m["value"] is None}
    assert no_data <= set(NO_DATA_EXPECTED), {mid: judged[mid]["reason"] for mid in no_data}
    # The one exception holds only while its queue is empty: another module on this worker's sandbox may have left
    # a failed batch there (test_iam_sandbox.py does, then replays it), and then its age is data like any other.
    if "ingest_failure_queue_oldest_age" in no_data:
        depth = sandbox.client("sqs").get_queue_attributes(
            QueueUrl=sandbox.outputs["ingest_failure_queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        assert depth == "0", f"ingest_failure_queue_oldest_age has no data with {depth} message(s) waiting"
    # a few values this traffic fixes: the waiting job and the DLQ message were there while the monitors looked
    assert judged["rollup_dlq_not_empty"]["state"] == "ALARM" and judged["rollup_dlq_not_empty"]["value"] >= 1
    assert judged["rollup_queue_oldest_age"]["value"] >= 0 and judged["report_not_run"]["state"] == "OK"
    assert judged["api_5xx_rate"]["value"] == 0 and judged["api_p99_latency"]["value"] > 0
