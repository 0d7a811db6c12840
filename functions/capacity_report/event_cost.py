"""The AWS cost of ingesting a number of readings at a rate, itemised, each item with the inputs it came from.

One implementation for `make bench` (tests/bench/cost_bench.py) and `opsctl capacity --prepare-event`: the
caller measures or reads the inputs (duration per batch, memory, batch sizes, jobs per reading), this module
only does the arithmetic, with the prices of prices.json. Two designs go through the same arithmetic: ours
(BatchWriteItem, one rollup job per device-hour per batch, SendMessageBatch) and the design documents'
one-put-per-record design (a PutItem and a SendMessage, so a rollup job, per reading).

Conventions, stated so a reader can redo each line: Lambda bills each invocation's duration rounded up to the
next millisecond, GB-s = memory MB / 1024 × seconds; Kinesis (provisioned) bills shard-hours (here prorated
over the event) and a PUT payload unit per started 25 KiB of each record; DynamoDB on demand bills one write
unit per started 1 KiB of item and one read unit per started 4 KiB read with strong consistency (half for
eventually consistent reads); SQS bills each API request (≤ 64 KiB) including the rollup event source mapping's
ReceiveMessage and DeleteMessageBatch (its empty polls are not counted: a busy queue has none); S3 bills each PUT;
CloudWatch Logs bills ingested GiB."""

from __future__ import annotations

import math
from typing import NamedTuple

from capacity_report.prices import PricesError

PUT_PAYLOAD_UNIT_BYTES = 25 * 1024
WRITE_UNIT_BYTES = 1024
GIB = 1024**3


class EventLoad(NamedTuple):
    """What arrives: `readings` at `rate_per_s` (readings/s), `record_bytes` each, on `shards` shards."""

    readings: int
    rate_per_s: float
    record_bytes: float
    shards: int


class DesignProfile(NamedTuple):
    """How one design spends per batch: configured (memory MB, batch sizes) or measured (ms per batch, jobs)."""

    name: str
    ingest_batch_size: int  # readings per ingest invocation
    ingest_memory_mb: int
    ingest_ms_per_batch: float  # duration of one ingest invocation, ms
    rollup_jobs_per_reading: float  # rollup jobs enqueued per reading written
    sqs_sends_per_job: float  # SendMessage(Batch) requests per job: 0.1 with batches of 10, 1 with SendMessage
    rollup_batch_size: int  # jobs per rollup worker invocation
    rollup_memory_mb: int
    rollup_ms_per_batch: float  # duration of one rollup invocation, ms
    rollup_read_units_per_job: float  # DynamoDB read units one job's Query of its device-hour costs
    quarantine_fraction: float  # share of readings that are poison (one S3 PUT each)
    log_bytes_per_invocation: float  # bytes of log lines (JSON + EMF + START/END/REPORT) one invocation writes


def _price(prices: dict, section: str, name: str) -> float:
    value = (prices.get(section) or {}).get(name)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise PricesError(f"prices file {prices.get('file', '?')} needs a non-negative number at {section}.{name}")
    return float(value)


def _item(service: str, item: str, quantity: float, unit: str, unit_price: float, per: float, inputs: str) -> dict:
    """One line of the bill: `quantity` `unit`s at `unit_price` per `per` units."""
    return {
        "service": service,
        "item": item,
        "quantity": quantity,
        "unit": unit,
        "unit_price": unit_price,
        "per": per,
        "cost": quantity * unit_price / per,
        "inputs": inputs,
    }


def event_cost(load: EventLoad, design: DesignProfile, prices: dict) -> dict:
    """The bill of `load` through `design`: items (service, item, quantity, unit, price, cost, inputs) and total."""
    if load.readings <= 0 or load.rate_per_s <= 0 or load.shards <= 0:
        raise ValueError("readings, rate and shards must be above 0")
    seconds = load.readings / load.rate_per_s
    shard_hours = load.shards * seconds / 3600
    units_per_record = max(1, math.ceil(load.record_bytes / PUT_PAYLOAD_UNIT_BYTES))
    ingest_invocations = math.ceil(load.readings / design.ingest_batch_size)
    ingest_ms = math.ceil(design.ingest_ms_per_batch)
    ingest_gb_s = ingest_invocations * ingest_ms / 1000 * design.ingest_memory_mb / 1024
    write_units_per_reading = max(1, math.ceil(load.record_bytes / WRITE_UNIT_BYTES))
    jobs = math.ceil(load.readings * design.rollup_jobs_per_reading)
    rollup_invocations = math.ceil(jobs / design.rollup_batch_size) if jobs else 0
    rollup_ms = math.ceil(design.rollup_ms_per_batch)
    rollup_gb_s = rollup_invocations * rollup_ms / 1000 * design.rollup_memory_mb / 1024
    sends = math.ceil(jobs * design.sqs_sends_per_job)
    poison = math.ceil(load.readings * design.quarantine_fraction)
    log_gib = (ingest_invocations + rollup_invocations) * design.log_bytes_per_invocation / GIB
    lam_req, lam_gbs = _price(prices, "lambda", "requests_per_million"), _price(prices, "lambda", "gb_second")
    items = [
        _item(
            "Kinesis",
            "shard-hours",
            shard_hours,
            "shard-hours",
            _price(prices, "kinesis", "shard_per_hour"),
            1,
            f"{load.shards} shards × {seconds:,.0f} s ({load.readings:,} readings at {load.rate_per_s:,g}/s) / 3,600",
        ),
        _item(
            "Kinesis",
            "PUT payload units",
            load.readings * units_per_record,
            "units",
            _price(prices, "kinesis", "put_payload_units_per_million"),
            1e6,
            f"{load.readings:,} records × {units_per_record} unit (≤25 KiB; {load.record_bytes:,.0f} B each)",
        ),
        _item(
            "Lambda",
            "ingest requests",
            ingest_invocations,
            "invocations",
            lam_req,
            1e6,
            f"{load.readings:,} readings / {design.ingest_batch_size} per batch",
        ),
        _item(
            "Lambda",
            "ingest GB-s",
            ingest_gb_s,
            "GB-s",
            lam_gbs,
            1,
            f"{ingest_invocations:,} invocations × {ingest_ms} ms × {design.ingest_memory_mb} MB / 1024",
        ),
        _item(
            "DynamoDB",
            "readings write units",
            load.readings * write_units_per_reading,
            "write units",
            _price(prices, "dynamodb", "on_demand_write_per_million_units"),
            1e6,
            f"{load.readings:,} items × {write_units_per_reading} (≤1 KiB each, on demand)",
        ),
        _item(
            "SQS",
            "rollup job sends",
            sends,
            "requests",
            _price(prices, "sqs", "requests_per_million"),
            1e6,
            f"{jobs:,} jobs ({design.rollup_jobs_per_reading:g} per reading) × {design.sqs_sends_per_job:g} "
            "requests per job",
        ),
        _item(
            "SQS",
            "rollup receives + deletes",
            2 * rollup_invocations,
            "requests",
            _price(prices, "sqs", "requests_per_million"),
            1e6,
            f"{rollup_invocations:,} worker batches × (1 ReceiveMessage + 1 DeleteMessageBatch)",
        ),
        _item(
            "Lambda",
            "rollup requests",
            rollup_invocations,
            "invocations",
            lam_req,
            1e6,
            f"{jobs:,} jobs / {design.rollup_batch_size} per batch",
        ),
        _item(
            "Lambda",
            "rollup GB-s",
            rollup_gb_s,
            "GB-s",
            lam_gbs,
            1,
            f"{rollup_invocations:,} invocations × {rollup_ms} ms × {design.rollup_memory_mb} MB / 1024",
        ),
        _item(
            "DynamoDB",
            "rollup read units",
            jobs * design.rollup_read_units_per_job,
            "read units",
            _price(prices, "dynamodb", "on_demand_read_per_million_units"),
            1e6,
            f"{jobs:,} jobs × {design.rollup_read_units_per_job:g} (one Query of the device-hour)",
        ),
        _item(
            "DynamoDB",
            "rollup write units",
            jobs,
            "write units",
            _price(prices, "dynamodb", "on_demand_write_per_million_units"),
            1e6,
            f"{jobs:,} jobs × 1 PutItem (≤1 KiB)",
        ),
        _item(
            "S3",
            "quarantine PUTs",
            poison,
            "PUTs",
            _price(prices, "s3", "put_per_thousand"),
            1e3,
            f"{load.readings:,} readings × {design.quarantine_fraction:.2%} poison",
        ),
        _item(
            "CloudWatch",
            "Logs ingestion",
            log_gib,
            "GiB",
            _price(prices, "cloudwatch", "logs_ingested_per_gb"),
            1,
            f"{ingest_invocations + rollup_invocations:,} invocations × {design.log_bytes_per_invocation:,.0f} B",
        ),
    ]
    return {
        "design": design.name,
        "readings": load.readings,
        "rate_per_s": load.rate_per_s,
        "seconds": seconds,
        "items": items,
        "total": sum(i["cost"] for i in items),
        "currency": prices.get("currency", "USD"),
        "prices": f"{prices.get('file', 'prices.json')} ({prices.get('region')}, {prices.get('date')})",
    }


def one_put_per_record(ours: DesignProfile, ms_per_batch: float, rollup_ms_per_batch: float) -> DesignProfile:
    """The design documents' design on the same configuration: a PutItem, a rollup job and a SendMessage per
    reading (so `ms_per_batch` and `rollup_ms_per_batch` are its own, measured or estimated)."""
    return ours._replace(
        name="one put per record",
        ingest_ms_per_batch=ms_per_batch,
        rollup_jobs_per_reading=1.0,
        sqs_sends_per_job=1.0,
        rollup_ms_per_batch=rollup_ms_per_batch,
    )


def compare(load: EventLoad, ours: DesignProfile, design: DesignProfile, prices: dict) -> dict:
    """Both bills on the same load and prices, and how many times cheaper ours is."""
    a, b = event_cost(load, ours, prices), event_cost(load, design, prices)
    return {"ours": a, "design": b, "design_over_ours": (b["total"] / a["total"]) if a["total"] else None}


def summary_line(bill: dict) -> str:
    """`1,000,000 readings at 1,000/s through ours: $1.23 (Lambda $0.50, ...)`."""
    by_service: dict[str, float] = {}
    for i in bill["items"]:
        by_service[i["service"]] = by_service.get(i["service"], 0.0) + i["cost"]
    parts = ", ".join(f"{s} ${c:.4f}" for s, c in by_service.items())
    return (
        f"{bill['readings']:,} readings at {bill['rate_per_s']:,g}/s through {bill['design']}: "
        f"${bill['total']:.4f} ({parts})"
    )
