"""Bench row: the AWS cost of 1,000,000 readings at 1,000/s, ours vs the one-put-per-record design.

The arithmetic and prices are capacity_report.event_cost and prices.json (the same as `opsctl capacity
--prepare-event`). The duration per ingest batch is what tests/bench/handler_bench.py measured in this run
(CPU per record × batch) plus each AWS request the batch makes (counted there too) at
opsctl.capacity.event_bill.AWS_REQUEST_MS; the rest is the envs/local and module defaults."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT / "functions", ROOT, Path(__file__).resolve().parent):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

READINGS, RATE = 1_000_000, 1000
RECORD_BYTES = 180  # a reading as tests/bench and `opsctl sandbox traffic` send it (≈ 170-190 B of JSON)
BATCH = 100  # ingest_batch_size default (the measurements are per 100 records)


def run_cost_bench() -> list[dict]:
    from handler_bench import MEASURED

    from capacity_report import event_cost as ec
    from capacity_report import prices as pricing
    from opsctl.capacity import event_bill

    prices = pricing.load()

    def ms_per_batch(who: str) -> float:
        cpu_ms = MEASURED["cpu_us_per_record"][who] * BATCH / 1000
        requests = MEASURED["requests_per_100"][who] + MEASURED["sqs_requests_per_100"][who]
        return cpu_ms + requests * event_bill.AWS_REQUEST_MS

    ours = ec.DesignProfile(
        name="ours",
        ingest_batch_size=BATCH,
        ingest_memory_mb=256,
        ingest_ms_per_batch=ms_per_batch("ours"),
        rollup_jobs_per_reading=MEASURED["jobs_per_100"]["ours"] / 100,
        sqs_sends_per_job=0.1,
        rollup_batch_size=10,
        rollup_memory_mb=256,
        rollup_ms_per_batch=event_bill.DEFAULT_ROLLUP_MS_PER_BATCH,
        rollup_read_units_per_job=event_bill.DEFAULT_ROLLUP_READ_UNITS_PER_JOB,
        quarantine_fraction=event_bill.DEFAULT_QUARANTINE_FRACTION,
        log_bytes_per_invocation=event_bill.DEFAULT_LOG_BYTES_PER_INVOCATION,
    )
    design = ec.one_put_per_record(
        ours, ms_per_batch=ms_per_batch("naive"), rollup_ms_per_batch=event_bill.DEFAULT_ROLLUP_MS_PER_BATCH
    )
    load = ec.EventLoad(READINGS, RATE, RECORD_BYTES, shards=2)  # 1,000/s at 70 % of 1,000 records/s per shard
    cmp = ec.compare(load, ours, design, prices)
    for bill in (cmp["ours"], cmp["design"]):
        print(f"bench: {ec.summary_line(bill)}", file=sys.stderr)
        for i in bill["items"]:
            print(f"  {i['service']} {i['item']}: ${i['cost']:.5f} ({i['inputs']})", file=sys.stderr)
    return [
        {
            "metric": f"AWS cost of {READINGS:,} readings at {RATE:,}/s ({prices['region']}, prices of "
            f"{prices['date']}; naive = one put per record)",
            "unit": "US cents",
            "ours": 100 * cmp["ours"]["total"],
            "naive": 100 * cmp["design"]["total"],
            "ratio": cmp["design_over_ours"],
        },
        {
            "metric": "  of which ingest Lambda GB-s (ms per batch: measured CPU + AWS requests × "
            f"{event_bill.AWS_REQUEST_MS:g} ms)",
            "unit": "US cents",
            "ours": 100 * _cost(cmp["ours"], "ingest GB-s"),
            "naive": 100 * _cost(cmp["design"], "ingest GB-s"),
            "ratio": _cost(cmp["design"], "ingest GB-s") / _cost(cmp["ours"], "ingest GB-s"),
        },
    ]


def _cost(bill: dict, item: str) -> float:
    return next(i["cost"] for i in bill["items"] if i["item"] == item)
