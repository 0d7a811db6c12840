"""The capacity report's numbers against values worked out by hand: seeded CloudWatch series (steady, spiky,
idle, throttled) on moto's real CloudWatch API with explicit timestamps, DynamoDB's decrease quota at its
edges, cost and break-even from the prices file, the shard and concurrency maths, and the HTML a person opens."""

from __future__ import annotations

import datetime as dt
import json
import math
from html.parser import HTMLParser
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from capacity_report import prices as pricing
from capacity_report import quota, render, report

REGION = "us-east-1"
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
WINDOW = dt.timedelta(hours=6)  # 360 one-minute datapoints per series
PRICES = pricing.load()
ROOT_BUILD = Path(__file__).resolve().parents[2] / "build" / "reports"


def _client(name):
    return boto3.client(name, region_name=REGION)


def _table(name, billing="PROVISIONED", rcu=100, wcu=100, gsi=False):
    kw = (
        {"ProvisionedThroughput": {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}}
        if billing == "PROVISIONED"
        else {}
    )
    attrs = [{"AttributeName": "device_id", "AttributeType": "S"}]
    if gsi:
        attrs.append({"AttributeName": "site", "AttributeType": "S"})
        kw["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "by-site",
                "KeySchema": [{"AttributeName": "site", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                **(
                    {"ProvisionedThroughput": {"ReadCapacityUnits": 20, "WriteCapacityUnits": 20}}
                    if billing == "PROVISIONED"
                    else {}
                ),
            }
        ]
    _client("dynamodb").create_table(
        TableName=name,
        BillingMode=billing,
        KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}],
        AttributeDefinitions=attrs,
        **kw,
    )


def _seed(metric, per_minute, dims, namespace="AWS/DynamoDB", end=NOW):
    """One datapoint per minute of the window (oldest first): per_minute(i) → value, None for no datapoint."""
    data = []
    for i in range(int(WINDOW.total_seconds() // 60)):
        v = per_minute(i)
        if v is not None:
            data.append(
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": k, "Value": val} for k, val in dims],
                    "Timestamp": end - WINDOW + dt.timedelta(minutes=i, seconds=30),
                    "Value": float(v),
                    "Unit": "Count",
                }
            )
    cw = _client("cloudwatch")
    for i in range(0, len(data), 1000):
        cw.put_metric_data(Namespace=namespace, MetricData=data[i : i + 1000])


def _report(table_names, stream=None, queues=None, client=_client):
    return report.build(
        client,
        report.Scope("test", table_names, stream=stream, queues=queues or {}),
        window=WINDOW,
        now=NOW,
        prices=PRICES,
    )


def _only(rep, resource):
    (found,) = [t for t in rep["tables"] if t["resource"] == resource]
    return found


@pytest.fixture
def aws():
    with mock_aws():
        yield


def test_moto_returns_seeded_minutes_with_their_timestamps(aws):
    # The design rests on this: GetMetricData gives back each minute we put, at its own minute.
    _table("steady")
    _seed("ConsumedWriteCapacityUnits", lambda i: 100 + i, [("TableName", "steady")])
    cw = _client("cloudwatch")
    q = [
        {
            "Id": "w",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/DynamoDB",
                    "MetricName": "ConsumedWriteCapacityUnits",
                    "Dimensions": [{"Name": "TableName", "Value": "steady"}],
                },
                "Period": 60,
                "Stat": "Sum",
            },
        }
    ]
    (r,) = cw.get_metric_data(MetricDataQueries=q, StartTime=NOW - WINDOW, EndTime=NOW, ScanBy="TimestampAscending")[
        "MetricDataResults"
    ]
    assert len(r["Values"]) == 360 and max(r["Values"]) == 459 and min(r["Values"]) == 100


def test_steady_provisioned_table_is_lowered_to_peak_at_70_percent_with_one_decrease(aws):
    _table("steady", rcu=100, wcu=100)
    _seed("ConsumedWriteCapacityUnits", lambda i: 3000, [("TableName", "steady")])  # 50 WCU/s
    _seed("ConsumedReadCapacityUnits", lambda i: 600, [("TableName", "steady")])  # 10 RCU/s
    t = _only(_report(["steady"]), "steady")
    w, r = t["dimensions"]["write"], t["dimensions"]["read"]
    assert (w["peak_per_s"], w["avg_per_s"], w["peak_utilization_pct"]) == (50, 50, 50)
    assert (r["peak_per_s"], r["avg_per_s"], r["peak_utilization_pct"]) == (10, 10, 10)
    # by hand: ceil(50 / 0.7) = 72 WCU, ceil(10 / 0.7) = 15 RCU
    assert t["action"] == "set_capacity" and t["changes"] == {"read_capacity": 15, "write_capacity": 72}
    assert t["decreases_planned"] == 1  # one UpdateTable lowers both
    # on demand: 50/s × 3600 × 730 h × $0.625/M = 82.125; provisioned 72 × 730 × $0.00065 = 34.164
    assert w["monthly_on_demand"] == pytest.approx(82.125) and w["monthly_provisioned_needed"] == pytest.approx(34.164)
    assert w["break_even_utilization_pct"] == pytest.approx(28.9)
    # 12:00 UTC, none used: 4 at once, then one an hour from 13:00 to 23:00 → 15
    assert t["decrease_quota"] == {"decreases_today": 0, "available_now": 4, "left_today": 15, "next_decrease_at": None}


def test_spiky_on_demand_table_stays_on_demand(aws):
    _table("spiky", billing="PAY_PER_REQUEST")
    _seed("ConsumedWriteCapacityUnits", lambda i: 18000 if i == 200 else 60, [("TableName", "spiky")])
    t = _only(_report(["spiky"]), "spiky")
    w = t["dimensions"]["write"]
    avg = (359 * 60 + 18000) / (6 * 3600)  # 1.8306 WCU/s
    assert w["peak_per_s"] == 300 and w["avg_per_s"] == pytest.approx(avg, abs=1e-3)
    assert w["needed"] == math.ceil(300 / 0.7) == 429
    assert w["monthly_on_demand"] == pytest.approx(avg * 3600 * 730 * 0.625e-6, abs=1e-3)  # ≈ 3.01
    assert w["monthly_provisioned_needed"] == pytest.approx(429 * 730 * 0.00065)  # ≈ 203.56: the peak dominates
    assert t["action"] == "keep" and t["changes"] == {}


def test_idle_provisioned_table_goes_on_demand(aws):
    _table("idle", rcu=50, wcu=50)
    t = _only(_report(["idle"]), "idle")
    assert t["monthly_cost"]["on_demand"] == 0
    assert t["action"] == "switch_to_on_demand" and t["changes"] == {"billing_mode": "PAY_PER_REQUEST"}
    assert t["switch_allowed"] == "now"


def test_steady_on_demand_table_goes_provisioned(aws):
    _table("busy", billing="PAY_PER_REQUEST")
    _seed("ConsumedWriteCapacityUnits", lambda i: 3000, [("TableName", "busy")])
    t = _only(_report(["busy"]), "busy")
    # 50/s steady: 72 WCU provisioned (34.16 + 1 RCU 0.09) against 82.13 on demand
    assert t["action"] == "switch_to_provisioned"
    assert t["changes"] == {"billing_mode": "PROVISIONED", "read_capacity": 1, "write_capacity": 72}


def test_throttled_table_gets_more_than_it_has_even_though_consumed_looks_fine(aws):
    _table("hot", rcu=1, wcu=10)
    _seed("ConsumedWriteCapacityUnits", lambda i: 600, [("TableName", "hot")])  # at its 10 WCU ceiling
    _seed("WriteThrottleEvents", lambda i: 30 if i % 2 else None, [("TableName", "hot")])
    t = _only(_report(["hot"]), "hot")
    assert t["dimensions"]["write"]["throttled"] == 180 * 30
    assert t["changes"] == {"write_capacity": 15} and t["decreases_planned"] == 0  # ceil(10 / 0.7) = 15, an increase


def test_each_gsi_is_read_and_recommended_on_its_own(aws):
    _table("withgsi", rcu=5, wcu=5, gsi=True)
    _seed(
        "ConsumedWriteCapacityUnits", lambda i: 300, [("TableName", "withgsi"), ("GlobalSecondaryIndexName", "by-site")]
    )
    rep = _report(["withgsi"])
    g = _only(rep, "withgsi/by-site")
    assert g["index"] == "by-site" and g["dimensions"]["write"]["provisioned"] == 20
    assert g["changes"] == {"read_capacity": 1, "write_capacity": 8}  # ceil(5 / 0.7) = 8


# --- the decrease quota ---------------------------------------------------------------------------------


def at(hour, minute=0):
    return NOW.replace(hour=hour, minute=minute)


@pytest.mark.parametrize(
    "made,last,now,available,left,next_at",
    [
        (0, None, at(0), 4, 27, None),  # a whole day: 4 + 23 hourly
        (3, at(9), at(23, 10), 1, 1, None),  # one left: the 4th; no hour remains after it
        (4, at(11, 40), at(12), 0, 12, at(12, 40)),  # 0 now; hourly from 12:40 to 23:40
        (4, at(10), at(12), 1, 12, None),  # the hourly extra: none in the previous hour
        (27, at(23), at(23, 30), 0, 0, (NOW + dt.timedelta(days=1)).replace(hour=0)),  # the daily maximum
        (5, at(23, 20), at(23, 30), 0, 0, (NOW + dt.timedelta(days=1)).replace(hour=0)),  # next would be after midnight
    ],
)
def test_decreases_left_follow_4_plus_1_per_hour(made, last, now, available, left, next_at):
    q = quota.decreases_left(made, last, now)
    assert (q.available_now, q.left_today, q.next_at) == (available, left, next_at)


def test_yesterdays_decrease_does_not_block_today():
    q = quota.decreases_left(0, at(23, 50) - dt.timedelta(days=1), at(0, 5))
    assert q.available_now == 4


class _DecreasesMade:
    """DynamoDB as AWS reports it after decreases (moto never counts NumberOfDecreasesToday)."""

    def __init__(self, client, made, last):
        self._c, self._made, self._last = client, made, last

    def describe_table(self, **kw):
        resp = self._c.describe_table(**kw)
        pt = resp["Table"]["ProvisionedThroughput"]
        pt.update(NumberOfDecreasesToday=self._made, LastDecreaseDateTime=self._last)
        return resp

    def __getattr__(self, name):
        return getattr(self._c, name)


def _with_decreases(made, last):
    return lambda name: _DecreasesMade(_client(name), made, last) if name == "dynamodb" else _client(name)


def test_no_decrease_left_plans_only_the_increase(aws):
    _table("mixed", rcu=100, wcu=10)
    _seed("ConsumedWriteCapacityUnits", lambda i: 1200, [("TableName", "mixed")])  # 20/s → 29 WCU, an increase
    _seed("ConsumedReadCapacityUnits", lambda i: 60, [("TableName", "mixed")])  # 1/s → 2 RCU, a decrease
    t = _only(_report(["mixed"], client=_with_decreases(4, NOW - dt.timedelta(minutes=20))), "mixed")
    assert t["changes"] == {"write_capacity": 29} and t["decreases_planned"] == 0
    assert any("none is left now" in w and "12:40" in w for w in t["warnings"])


def test_last_decrease_of_the_day_is_planned_with_a_warning(aws):
    _table("late", rcu=100, wcu=100)
    late = NOW.replace(hour=23, minute=10)
    _seed(
        "ConsumedWriteCapacityUnits", lambda i: 3000, [("TableName", "late")], end=late
    )  # 50/s: stays provisioned at 72
    rep = report.build(
        _with_decreases(3, late - dt.timedelta(hours=2)),
        report.Scope("test", ["late"]),
        window=WINDOW,
        now=late,
        prices=PRICES,
    )
    t = _only(rep, "late")
    assert t["decreases_planned"] == 1 and t["decrease_quota"]["left_today"] == 1
    assert any("last decrease" in w for w in t["warnings"])


def test_auto_scaling_range_is_read_and_recommended(aws):
    _table("scaled", rcu=5, wcu=80)
    aas = _client("application-autoscaling")
    for dim in ("Read", "Write"):
        aas.register_scalable_target(
            ServiceNamespace="dynamodb",
            ResourceId="table/scaled",
            ScalableDimension=f"dynamodb:table:{dim}CapacityUnits",
            MinCapacity=5,
            MaxCapacity=100,
        )
        aas.put_scaling_policy(
            PolicyName=f"scaled-{dim}",
            ServiceNamespace="dynamodb",
            ResourceId="table/scaled",
            ScalableDimension=f"dynamodb:table:{dim}CapacityUnits",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 70.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": f"DynamoDB{dim}CapacityUtilization"},
            },
        )
    _seed("ConsumedWriteCapacityUnits", lambda i: 3000, [("TableName", "scaled")])
    t = _only(_report(["scaled"]), "scaled")
    assert t["dimensions"]["write"]["autoscaling"] == {"min": 5, "max": 100, "target_pct": 70.0}
    # min = ceil(50 / 0.7) = 72, max = ceil(72 × 1.5) = 108; reads idle: 1–2 (max = ceil(1 × 1.5))
    assert t["changes"] == {
        "read_autoscaling": {"min": 1, "max": 2, "target_pct": 70.0},
        "write_autoscaling": {"min": 72, "max": 108, "target_pct": 70.0},
    }


def test_no_autoscaling_anywhere_is_not_an_error(aws):
    _table("plain", rcu=5, wcu=5)
    t = _only(_report(["plain"]), "plain")
    assert t["dimensions"]["read"]["autoscaling"] is None and t["autoscaled"] is False


# --- stream, concurrency, prices -------------------------------------------------------------------------


def _consumer(stream_arn, parallelization, reserved):
    iam = _client("iam")
    role = iam.create_role(
        RoleName="r", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("h.py", "def handler(e, c):\n    return {}\n")
    lam = _client("lambda")
    lam.create_function(
        FunctionName="ingest", Runtime="python3.12", Role=role, Handler="h.handler", Code={"ZipFile": buf.getvalue()}
    )
    lam.put_function_concurrency(FunctionName="ingest", ReservedConcurrentExecutions=reserved)
    lam.create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName="ingest",
        StartingPosition="TRIM_HORIZON",
        ParallelizationFactor=parallelization,
    )


def test_stream_recommendation_and_lambda_concurrency(aws):
    kinesis = _client("kinesis")
    kinesis.create_stream(StreamName="ingest", ShardCount=2)
    arn = kinesis.describe_stream_summary(StreamName="ingest")["StreamDescriptionSummary"]["StreamARN"]
    _consumer(arn, parallelization=2, reserved=4)
    _seed(
        "IncomingRecords", lambda i: 120_000 if i == 100 else 6_000, [("StreamName", "ingest")], namespace="AWS/Kinesis"
    )
    _seed(
        "IncomingBytes",
        lambda i: 12_000_000 if i == 100 else 600_000,
        [("StreamName", "ingest")],
        namespace="AWS/Kinesis",
    )
    rep = _report([], stream="ingest")
    s = rep["stream"]
    # busiest minute 2,000 rec/s at 70 % of 1,000 rec/s per shard → ceil(2.86) = 3; bytes 200,000 B/s → 1
    assert (s["recommendation"]["target"], s["recommendation"]["by_records"], s["recommendation"]["by_bytes"]) == (
        3,
        3,
        1,
    )
    assert s["peak_utilization_pct"] == 100.0  # 2,000 rec/s on 2 shards
    (f,) = rep["lambda"]["functions"]
    assert (f["needed_now"], f["needed_at_recommended_shards"], f["reserved"]) == (
        4,
        6,
        4,
    )  # shards × parallelization 2
    assert any("over reserved concurrency (4)" in w for w in rep["warnings"])
    assert any("reshard 2 → 3" in r for r in rep["recommendations"])


def test_prices_come_from_one_file_that_can_be_replaced(tmp_path, monkeypatch):
    doc = json.loads(pricing.DEFAULT_FILE.read_text())
    assert {"region", "date", "source"} <= doc.keys()
    doc["dynamodb"]["provisioned_wcu_per_hour"] = 0.00225  # = one WCU-hour fully used on demand → break-even 100 %
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    monkeypatch.setenv(pricing.ENV_VAR, str(path))
    assert pricing.break_even_utilization_pct(pricing.load(), "write") == pytest.approx(100.0)
    path.write_text("{}")
    with pytest.raises(pricing.PricesError, match="needs a 'region'"):
        pricing.load()


# --- rendering --------------------------------------------------------------------------------------------


class _Html(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.figures, self.svgs, self.attrs, self.text = [], [], 0, [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [v or "" for _, v in attrs]
        if tag == "figure":
            self.figures.append(dict(attrs)["data-resource"])
        if tag == "svg":
            self.svgs += 1

    def handle_data(self, data):
        self.text.append(data)


def test_html_report_is_self_contained_with_a_chart_per_resource(aws):
    _table("steady", rcu=100, wcu=100, gsi=True)
    _seed("ConsumedWriteCapacityUnits", lambda i: 3000, [("TableName", "steady")])
    kinesis = _client("kinesis")
    kinesis.create_stream(StreamName="ingest", ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName="ingest")["StreamDescriptionSummary"]["StreamARN"]
    _consumer(arn, parallelization=1, reserved=10)
    url = _client("sqs").create_queue(QueueName="ingest-failures")["QueueUrl"]
    rep = _report(["steady"], stream="ingest", queues={"ingest_failure_queue_url": url})
    page = render.render(rep, "html")
    p = _Html()
    p.feed(page)
    p.close()
    assert (
        p.figures == ["steady", "steady/by-site", "ingest", "ingest", "ingest-failures"][: len(p.figures)]
        and len(p.figures) == 5
    )
    assert p.svgs == 5 and "polyline" in p.tags
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(p.tags)
    assert not any("//" in a or "url(" in a for a in p.attrs)
    assert "http" not in page and "@import" not in page and "url(" not in page


def test_markdown_and_json_carry_the_same_recommendations(aws):
    _table("idle", rcu=50, wcu=50)
    rep = _report(["idle"])
    assert (
        json.loads(render.render(rep, "json"))["recommendations"]
        == rep["recommendations"]
        == ["idle: switch to on demand billing_mode=PAY_PER_REQUEST"]
    )
    assert "- idle: switch to on demand billing_mode=PAY_PER_REQUEST" in render.render(rep, "md")
    with pytest.raises(ValueError, match="unknown report format"):
        render.render(rep, "pdf")


def test_summary_is_short_and_names_the_report(aws):
    _table("idle", rcu=50, wcu=50)
    subject, text = report.summary(_report(["idle"]), "s3://b/k.html")
    assert len(subject) <= 100 and "1 recommendation" in subject
    assert text.endswith("Full report: s3://b/k.html") and "switch to on demand" in text


def _planner_report():
    _table("steady", rcu=100, wcu=100, gsi=True)
    _seed("ConsumedWriteCapacityUnits", lambda i: 3000, [("TableName", "steady")])
    _table("idle", rcu=50, wcu=50)  # recommends on-demand: a saving to state
    kinesis = _client("kinesis")
    kinesis.create_stream(StreamName="ingest", ShardCount=4)
    arn = kinesis.describe_stream_summary(StreamName="ingest")["StreamDescriptionSummary"]["StreamARN"]
    _consumer(arn, parallelization=1, reserved=10)
    _seed("IncomingRecords", lambda i: 300, [("StreamName", "ingest")], namespace="AWS/Kinesis")  # 5 rec/s
    _seed("IteratorAge", lambda i: 48_120, [("FunctionName", "consumer")], namespace="AWS/Lambda")
    url = _client("sqs").create_queue(QueueName="rollup-jobs")["QueueUrl"]
    _client("sqs").send_message(QueueUrl=url, MessageBody="{}")
    return _report(["steady", "idle"], stream="ingest", queues={"rollup_queue_url": url})


def test_html_report_reads_as_a_planner_needs(aws):
    rep = _planner_report()
    page = render.render(rep, "html")
    p = _Html()
    p.feed(page)
    p.close()
    text = " ".join(p.text)
    assert "<pre>" not in page and page.count("<thead>") >= 4  # real tables, not Markdown in a box
    assert "e+" not in text and "4.812e" not in page  # human units on every axis and cell
    assert page.count('class="tick"') >= 5 * 3 and 'class="grid"' in page  # time ticks and gridlines per chart
    # 5 rec/s against a 4,000 rec/s limit: the limit is named above the chart, the data keeps the chart's height
    assert "shard write limit 4,000 rec/s: off the scale (the data peaks below 1% of it)" in text
    # cost per resource, the stream included, and the saving of each recommendation
    costs = page.split("<h2>Cost per resource</h2>")[1].split("</table>")[0]
    # 4 shards x 730 h x $0.015 = $43.80 a month, the stream's cost next to the tables'
    assert '<td class="t">provisioned, 4 shards</td><td>43.80</td>' in costs and "<td>steady</td>" not in costs
    assert '<td class="t">steady</td>' in costs
    recs = page.split("<h2>Recommendations</h2>")[1].split("</table>")[0]
    assert "idle" in recs and "saving $/month" in recs
    assert "reshard 4 → 1 shards" in recs
    # prices from 2024-11-01 in a report of 2026-03-10: said, with what to do
    assert "The prices are 494 days old" in text and "us-east-1" in text
    # a live work queue with a message is working, not "failed batches"
    assert not any("rollup-jobs" in w for w in rep["warnings"])


def test_html_report_has_no_horizontal_overflow_at_1280_px_in_chromium(aws, tmp_path):
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium binary on this machine (Debian: apt-get install -y chromium); layout is untested here")
    page = render.render(_planner_report(), "html")
    (tmp_path / "report.html").write_text(page)
    # the report has no scripts; this copy gets one that writes what the layout measured into the DOM
    probe = page.replace(
        "</body>",
        "<script>window.addEventListener('load',()=>{const d=document.documentElement;"
        "document.body.insertAdjacentHTML('beforeend','<p id=\"probe\">'+d.scrollWidth+' '+d.clientWidth+'</p>')})"
        "</script></body>",
    )
    (tmp_path / "probe.html").write_text(probe)
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,900"]
    dom = subprocess.run(
        [*flags, "--virtual-time-budget=3000", "--dump-dom", (tmp_path / "probe.html").as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    scroll_width, client_width = map(int, dom.rsplit('<p id="probe">', 1)[1].split("</p>")[0].split())
    assert client_width == 1280 and scroll_width <= client_width, (scroll_width, client_width)
    shot = ROOT_BUILD / "capacity-report-1280.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [*flags, f"--screenshot={shot}", (tmp_path / "report.html").as_uri()], capture_output=True, timeout=120
    )
    assert shot.stat().st_size > 10_000  # a real rendering to look at: build/reports/capacity-report-1280.png


def test_a_window_starting_mid_minute_keeps_that_minute_as_cloudwatch_does(aws):
    from capacity_report import metrics

    cw = _client("cloudwatch")
    start = NOW - WINDOW
    cw.put_metric_data(
        Namespace="AWS/Kinesis",
        MetricData=[
            {
                "MetricName": "IncomingRecords",
                "Dimensions": [{"Name": "StreamName", "Value": "s"}],
                "Timestamp": start + dt.timedelta(seconds=10),
                "Value": 600.0,
                "Unit": "Count",
            }
        ],
    )
    q = [metrics.MetricQuery("r", "AWS/Kinesis", "IncomingRecords", (("StreamName", "s"),), "Sum")]
    # a run at hh:mm:40 asks from hh:mm:40; CloudWatch answers from hh:mm:00, so the busiest minute stays the same
    late = metrics.fetch(cw, q, start + dt.timedelta(seconds=40), NOW)
    assert late.max("r") == 600.0 == metrics.fetch(cw, q, start, NOW).max("r")


def test_the_report_says_when_its_prices_are_stale_or_for_another_region(aws):
    def warnings_with(prices: dict) -> list[str]:
        rep = report.build(_client, report.Scope("test", []), window=WINDOW, now=NOW, prices=prices)
        return [w for w in rep["warnings"] if "prices" in w]

    # The bundled file (2024-11-01) at NOW (2026-03-10): 494 days old, over the 365 allowed.
    (stale,) = warnings_with(PRICES)
    assert "494 days old" in stale and "CAPACITY_PRICES_FILE" in stale
    current = {**PRICES, "region": REGION, "date": NOW.date().isoformat()}
    assert warnings_with(current) == []
    # Prices of another region than the stack's (the clients are in REGION): every cost is that region's.
    (other,) = warnings_with({**current, "region": "eu-west-1"})
    assert f"prices are for eu-west-1, the stack is in {REGION}" in other


def _with_text(data, text: str):
    """`data` with `text` appended to every string in it: names, labels and warnings as if chosen by someone hostile."""
    if isinstance(data, dict):
        return {k: _with_text(v, text) for k, v in data.items()}
    if isinstance(data, list):
        return [_with_text(v, text) for v in data]
    return data + text if isinstance(data, str) and not data[:4].isdigit() else data


def test_html_report_shows_hostile_text_as_text(aws):
    rep = _with_text(_planner_report(), '<script>alert(1)</script>"><img src=x>\x1b[2J\u202e')
    page = render.render(rep, "html")
    p = _Html()
    p.feed(page)
    p.close()
    assert not {"script", "img"} & set(p.tags)
    assert "&lt;script&gt;" in page  # shown, escaped
    assert "\x1b" not in page and "\u202e" not in page  # no terminal escape nor reordering character survives
