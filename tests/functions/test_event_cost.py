"""The cost of an event (capacity_report.event_cost), checked against bills worked out by hand."""

from __future__ import annotations

import pytest

from capacity_report import event_cost as ec
from capacity_report import prices as pricing
from capacity_report.prices import PricesError

# Round prices, so each expected figure below is worked out by hand in its comment.
PRICES = {
    "file": "test-prices.json",
    "region": "us-east-1",
    "date": "2024-11-01",
    "currency": "USD",
    "kinesis": {"shard_per_hour": 0.015, "put_payload_units_per_million": 0.014},
    "dynamodb": {"on_demand_write_per_million_units": 0.625, "on_demand_read_per_million_units": 0.125},
    "lambda": {"requests_per_million": 0.20, "gb_second": 0.0000166667},
    "sqs": {"requests_per_million": 0.40},
    "s3": {"put_per_thousand": 0.005},
    "cloudwatch": {"logs_ingested_per_gb": 0.50},
}
MILLION_AT_1000 = ec.EventLoad(readings=1_000_000, rate_per_s=1000, record_bytes=180, shards=2)
OURS = ec.DesignProfile(
    name="ours",
    ingest_batch_size=100,
    ingest_memory_mb=256,
    ingest_ms_per_batch=39.2,  # billed 40 ms
    rollup_jobs_per_reading=0.2,
    sqs_sends_per_job=0.1,
    rollup_batch_size=10,
    rollup_memory_mb=256,
    rollup_ms_per_batch=50,
    rollup_read_units_per_job=0.5,
    quarantine_fraction=0.001,
    log_bytes_per_invocation=1024,
)


def _items(bill: dict) -> dict[str, dict]:
    return {i["item"]: i for i in bill["items"]}


def test_a_million_readings_at_1000_per_second_itemised_by_hand():
    bill = ec.event_cost(MILLION_AT_1000, OURS, PRICES)
    items = _items(bill)
    assert bill["seconds"] == 1000  # 1,000,000 / 1,000 per s
    # 2 shards × 1,000 s / 3,600 = 0.5556 shard-hours × $0.015 = $0.008333
    assert items["shard-hours"]["quantity"] == pytest.approx(0.555556, rel=1e-5)
    assert items["shard-hours"]["cost"] == pytest.approx(0.008333, rel=1e-3)
    # 1,000,000 records of 180 B: one 25 KiB unit each; 1 M × $0.014 / M
    assert items["PUT payload units"]["cost"] == pytest.approx(0.014)
    # 10,000 invocations × $0.20 / M = $0.002
    assert items["ingest requests"]["quantity"] == 10_000
    assert items["ingest requests"]["cost"] == pytest.approx(0.002)
    # 10,000 × 0.040 s (39.2 ms billed as 40) × 0.25 GB = 100 GB-s × $0.0000166667 = $0.00166667
    assert items["ingest GB-s"]["quantity"] == pytest.approx(100)
    assert items["ingest GB-s"]["cost"] == pytest.approx(0.00166667)
    # 1 M items ≤ 1 KiB: 1 M write units × $0.625 / M
    assert items["readings write units"]["cost"] == pytest.approx(0.625)
    # 200,000 jobs × 0.1 = 20,000 SendMessageBatch; 20,000 worker batches × 2 = 40,000 requests; × $0.40 / M
    assert items["rollup job sends"]["quantity"] == 20_000
    assert items["rollup receives + deletes"]["quantity"] == 40_000
    assert items["rollup receives + deletes"]["cost"] == pytest.approx(0.016)
    # 20,000 × 0.050 s × 0.25 GB = 250 GB-s
    assert items["rollup GB-s"]["quantity"] == pytest.approx(250)
    # reads 200,000 × 0.5 = 100,000 units × $0.125 / M; writes 200,000 × $0.625 / M
    assert items["rollup read units"]["cost"] == pytest.approx(0.0125)
    assert items["rollup write units"]["cost"] == pytest.approx(0.125)
    # 1,000 poison readings × $0.005 / 1,000
    assert items["quarantine PUTs"]["quantity"] == 1000
    assert items["quarantine PUTs"]["cost"] == pytest.approx(0.005)
    # (10,000 + 20,000) invocations × 1 KiB = 30,000 KiB = 0.028610 GiB × $0.50
    assert items["Logs ingestion"]["cost"] == pytest.approx(30_000 / 1024**2 * 0.5)
    assert bill["total"] == pytest.approx(sum(i["cost"] for i in bill["items"]))
    assert bill["total"] == pytest.approx(
        0.008333
        + 0.014
        + 0.002
        + 0.00166667
        + 0.625
        + 0.008
        + 0.016
        + 0.004
        + 0.00416668
        + 0.0125
        + 0.125
        + 0.005
        + 30_000 / 1024**2 * 0.5,
        rel=1e-4,
    )


def test_every_item_shows_the_inputs_it_was_computed_from():
    items = _items(ec.event_cost(MILLION_AT_1000, OURS, PRICES))
    assert items["ingest GB-s"]["inputs"] == "10,000 invocations × 40 ms × 256 MB / 1024"
    assert items["shard-hours"]["inputs"].startswith("2 shards × 1,000 s (1,000,000 readings at 1,000/s)")
    assert all(i["inputs"] and i["unit"] for i in items.values())


def test_one_put_per_record_sends_a_job_per_reading_and_costs_more():
    design = ec.one_put_per_record(OURS, ms_per_batch=1_000.4, rollup_ms_per_batch=50)
    cmp = ec.compare(MILLION_AT_1000, OURS, design, PRICES)
    items = _items(cmp["design"])
    assert items["rollup job sends"]["quantity"] == 1_000_000  # a SendMessage per reading
    assert items["rollup requests"]["quantity"] == 100_000  # 1 M jobs / 10 per worker batch
    # 10,000 invocations × 1.001 s (1,000.4 ms billed 1,001) × 0.25 GB = 2,502.5 GB-s
    assert items["ingest GB-s"]["quantity"] == pytest.approx(2502.5)
    # Same readings, same stream, same table writes: only the work per reading differs.
    assert items["readings write units"] == _items(cmp["ours"])["readings write units"]
    assert cmp["design_over_ours"] == pytest.approx(cmp["design"]["total"] / cmp["ours"]["total"]) and (
        cmp["design_over_ours"] > 1
    )


def test_records_over_a_kib_take_more_write_units_and_over_25_kib_more_put_units():
    big = MILLION_AT_1000._replace(readings=1000, record_bytes=30_000)
    items = _items(ec.event_cost(big, OURS, PRICES))
    assert items["PUT payload units"]["quantity"] == 2000  # 30,000 B = 2 started 25 KiB units
    assert items["readings write units"]["quantity"] == 30_000  # 30,000 B = 30 started KiB (29.3 KiB)


def test_a_prices_file_without_a_needed_price_is_a_clear_error():
    incomplete = {**PRICES, "sqs": {}}
    with pytest.raises(PricesError, match=r"sqs\.requests_per_million"):
        ec.event_cost(MILLION_AT_1000, OURS, incomplete)


def test_the_bundled_prices_file_has_every_price_the_cost_needs_with_its_source():
    doc = pricing.load()
    bill = ec.event_cost(MILLION_AT_1000, OURS, doc)
    assert bill["total"] > 0 and "us-east-1" in bill["prices"]
    assert {"dynamodb", "kinesis", "lambda", "sqs", "s3", "cloudwatch"} <= set(doc["sources"])


def test_summary_line_names_the_total_and_each_service():
    line = ec.summary_line(ec.event_cost(MILLION_AT_1000, OURS, PRICES))
    assert line.startswith("1,000,000 readings at 1,000/s through ours: $")
    assert all(s in line for s in ("Kinesis", "Lambda", "DynamoDB", "SQS", "S3", "CloudWatch"))
