"""Every table opsctl prints, rendered as on-call sees it: in an 80-column terminal and piped. The identifying
column (id, name, queue) is whole in both; nothing is wider than the terminal; device bytes never reach it."""

from __future__ import annotations

import functools
import re

import pytest

from opsctl.cli import capacity as capacity_cli
from opsctl.cli import devices as devices_cli
from opsctl.cli import dlq as dlq_cli
from opsctl.cli import fmt, render
from opsctl.cli import quarantine as quarantine_cli
from opsctl.cli import sandbox as sandbox_cli
from opsctl.cli import stream as stream_cli

SEQ = "49659512345678901234567890123456789012345678901234567890"  # Kinesis sequence numbers are 56 digits
DLQ = "telemetry-local-rollup-jobs-dlq"
FAILURES = "telemetry-local-ingest-failures"
ALERT_FAILURES = "telemetry-local-alert-failures"
MAPPING_UUID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def _queue(name, output, **extra):
    return {"output": output, "queue": name, "visible": 4, "in_flight": 0, "oldest_age_s": 3591.0, **extra}


STATUS = {
    "environment": "local",
    "stream": {
        "name": "telemetry-local-readings",
        "arn": "arn:aws:kinesis:us-east-1:123456789012:stream/telemetry-local-readings",
        "status": "ACTIVE",
        "mode": "PROVISIONED",
        "open_shards": 1,
        "retention_hours": 24,
        "encryption": "KMS",
        "kms_key": "alias/telemetry",
    },
    "mappings": [
        {
            "uuid": MAPPING_UUID,
            "function": "telemetry-local-ingest-function",
            "state": "Enabled",
            "batch_size": 100,
            "batching_window_s": 1,
            "parallelization_factor": 2,
            "maximum_retry_attempts": 3,
            "bisect": True,
            "maximum_record_age_s": 3600,
            "on_failure": "arn:aws:sqs:us-east-1:123456789012:" + FAILURES,
        }
    ],
    "queues": [
        {**_queue(FAILURES, "ingest_failure_queue_url"), "retention_s": 1_209_600, "has_dlq": False, "is_dlq": False},
        {**_queue(DLQ, "rollup_dlq_url"), "retention_s": 1_209_600, "has_dlq": False, "is_dlq": True},
        {
            "output": "rollup_queue_url",
            "queue": "telemetry-local-rollup-jobs",
            "error": "AWS refused GetQueueAttributes",
        },
    ],
    "table": {
        "name": "telemetry-local-readings",
        "status": "ACTIVE",
        "billing_mode": "PAY_PER_REQUEST",
        "item_count": 1,
    },
    "alarms": [{"name": "telemetry-local-ingest-iterator-age-warning", "reason": "Threshold Crossed", "since": ""}],
}

ITERATOR_AGE = {
    "level": "WARNING",
    "stream": "telemetry-local-readings",
    "retention_hours": 24,
    "window_s": 900,
    "thresholds_ms": {"warning": 60_000, "critical": 3_600_000},
    "stream_get_records_iterator_age_ms": 8_800,
    "incoming_records_per_s": 12_345.5,
    "consumers": [
        {
            "function_name": "telemetry-local-ingest-function",
            "level": "WARNING",
            "iterator_age_ms": 3_591_000,
            "processed_records_per_s": 980.25,
            "time_to_data_loss_ms": 82_800_000,
            "data_loss_by": "stream retention",
            "catch_up_s": None,
            "falling_behind": True,
            "lint": ["no on-failure destination"],
            "reason": "iterator age 59 min 51 s ≥ warning 1 min 00 s",
        }
    ],
}

MONITORS = {
    "error": None,
    "not_applicable": [],
    "get_metric_data_calls": 1,
    "monitors": [
        {
            "id": monitor_id,
            "state": "ALARM" if i == 0 else "OK",
            "value": 61_000.0,
            "threshold": 60_000,
            "unit": "ms",
            "comparison": "GreaterThanOrEqualToThreshold",
            "breaching_periods": 5,
            "datapoints_to_alarm": 5,
            "evaluation_periods": 5,
            "severity": "warning",
            "cloudwatch_alarm_state": "ALARM",
            "runbook": "runbooks/iterator-age.md",
            "reason": "5 of 5 periods ≥ 60,000 ms",
        }
        for i, monitor_id in enumerate(
            ["ingest_iterator_age_warning", "ingest_iterator_age_critical", "rollup_dlq_messages_visible"]
        )
    ],
}

RESHARD = {
    "plan": {
        "stream": "telemetry-local-readings",
        "current_open_shards": 1,
        "target": 4,
        "calls": 2,
        "minimum_calls": 2,
        "steps": [{"step": 1, "from": 1, "to": 2, "factor": 2.0}, {"step": 2, "from": 2, "to": 4, "factor": 2.0}],
        "warnings": [],
    },
    "recommendation": None,
    "applied": [],
    "terraform": None,
}

DLQ_LIST = {
    "environment": "local",
    "missing": [],
    "queues": [
        {
            **_queue(FAILURES, "ingest_failure_queue_url"),
            "kind": "kinesis-on-failure",
            "retention_s": 1_209_600,
            "failure_records": 1,
            "records_referenced": 6,
            "expired_records": 0,
            "soonest_expiry_s": 80_000,
            "expiry_level": "soon",
            "replays_to": "telemetry-local-ingest-function",
            "replay_source": "ingest",
        },
        {
            **_queue(DLQ, "rollup_dlq_url"),
            "kind": "sqs-dlq",
            "retention_s": 1_209_600,
            "replays_to": "telemetry-local-rollup-jobs",
            "replay_source": "rollup",
            "soonest_expiry_s": None,
            "expiry_level": None,
        },
        {
            **_queue(ALERT_FAILURES, "alert_failure_queue_url"),
            "kind": "kinesis-on-failure",
            "retention_s": 1_209_600,
            "failure_records": 0,
            "expiry_level": "none",
            "replays_to": None,
            "replay_source": "x",
        },
    ],
}

MESSAGE_IDS = [f"7c1f9a5e-0b7e-4e77-9a3c-00000000000{i}" for i in range(3)]
SQS_DRY_RUN = {
    "dry_run": True,
    "skipped": 9,
    "would_move": [
        {
            "message_id": m,
            "age_s": 3591.2,
            "receive_count": 4,
            "size_bytes": 2_048,
            "group": None,
            "preview": '{"device_id": "dev-0001", "hour_start": 1764000000000, "reason": "worker timed out"}',
        }
        for m in MESSAGE_IDS
    ],
}

SHARDS = ["shardId-000000000000", "shardId-000000000001"]
KINESIS_DRY_RUN = {
    "dry_run": True,
    "soonest_expiry_s": 80_000,
    "failure_messages": 2,
    "expired": [],
    "expired_records": 0,
    "ranges": [{"shard_id": s, "start": SEQ, "end": SEQ[:-1] + "9", "failure_messages": 1} for s in SHARDS],
}

QUARANTINE = {
    "bucket": "telemetry-local-quarantine-123456789012",
    "prefix": "quarantine/",
    "read": 3,
    "truncated": False,
    "matched": 3,
    "by_reason": {"invalid_json": 2, "ts_out_of_window": 1},
    "records": [
        {
            "key": f"quarantine/dt=2026-11-24/{i}.json",
            "reason_code": "invalid_json" if i else "ts_out_of_window",
            "reason": "the data is not a JSON object: Expecting value: line 1 column 1 (char 0)",
            "shard_id": "shardId-000000000000",
            "sequence_number": SEQ[:-1] + str(i),
            "partition_key": f"dev-000{i}",
            "approximate_arrival_timestamp": 1764000000.123 + i,
            "preview": "not json at all, just bytes from a device that lost its mind",
        }
        for i in range(3)
    ],
}

TABLES = ["telemetry-local-readings", "telemetry-local-readings/by-day-index", "telemetry-local-rollups"]
CAPACITY = {
    "window": {"seconds": 604_800},
    "tables": [
        {
            "resource": name,
            "billing_mode": "PROVISIONED",
            "decrease_quota": {"left_today": 4},
            "reasons": [],
            "dimensions": {
                dim: {
                    "provisioned": 25,
                    "peak_per_s": 12.5,
                    "avg_per_s": 1.25,
                    "throttled": 0,
                    "autoscaling": {"min": 5, "max": 100, "target_pct": 70.0},
                    "monthly_on_demand": 1234.5,
                    "monthly_provisioned_needed": 12.0,
                    "needed": 19,
                    "break_even_utilization_pct": 14.4,
                }
                for dim in ("read", "write")
            },
        }
        for name in TABLES
    ],
    "stream": None,
    "lambda": None,
    "recommendations": ["telemetry-local-readings: provisioned write 25 → 19"],
    "warnings": [],
    "notes": [],
    "prices": {"region": "us-east-1", "date": "2026-11-01", "file": "prices.json"},
}
PLAN = [
    {
        "resource": name,
        "action": "update_table",
        "changes": {"WriteCapacityUnits": 19},
        "decreases": 1,
        "untracked": None,
        "tfvars": ["readings_write_capacity"],
    }
    for name in TABLES
]

FUNCTIONS = ["telemetry-local-ingest-function", "telemetry-local-rollup-worker-function"]
RUN = {
    "mappings": [
        {
            "function_name": fn,
            "source": "arn:aws:kinesis:us-east-1:123456789012:stream/telemetry-local-readings",
            "invocations": 12,
            "records_delivered": 1_040,
            "function_errors": 1,
            "partial_failures": 2,
            "bisections": 1,
            "on_failure_records": 1,
            "records_discarded_without_destination": 0,
        }
        for fn in FUNCTIONS
    ],
    "timed_out": False,
}
DRILL_STEPS = ["baseline-traffic-delivered", "consumer-stopped-spike-sent", "monitor-fired-runbook-diagnose"]
DRILL = {
    "timeline": [
        {"at_s": 61.5 * i, "step": s, "command": "opsctl iterator-age --window 15m", "outcome": "WARNING"}
        for i, s in enumerate(DRILL_STEPS)
    ],
    "accounting": {
        "sent": 1722,
        "in_table": 1700,
        "quarantined": 22,
        "quarantined_by_reason": {"bad": 22},
        "unaccounted": 0,
    },
    "fired": ["ingest_iterator_age_warning"],
    "recovered": True,
    "not_exercised": {},
    "ok": True,
    "problems": [],
}
DRILL_MONITORS = ["ingest_iterator_age_warning", "stream_write_throughput_exceeded", "table_system_errors"]
DRILL_WITH_MONITORS = {
    **DRILL,
    "exercised": [
        {
            "monitor": m,
            "runbook": "runbooks/stream-write-throttled.md",
            "fired": True,
            "cleared": True,
            "brought_back_by": "opsctl reshard --recommend --window 1h --dry-run",
        }
        for m in DRILL_MONITORS
    ],
}
HOURS = [1_764_000_000_000 + i * 3_600_000 for i in range(3)]
ROLLUPS = {
    "device_id": "dev-0001",
    "from": HOURS[0],
    "to": HOURS[-1],
    "rollups": [
        {
            "hour_start": h,
            "count": 60,
            "metrics": {n: {"min": 1, "avg": 2.5, "max": 4} for n in ("temp_c", "hum_pct", "battery_v")},
        }
        for h in HOURS
    ],
}
FAULT_TABLES = ["telemetry-local-readings", "telemetry-local-rollup-jobs"]
FAULTS = {
    "started": {"kind": "dynamodb-error", "target": FAULT_TABLES[0], "seconds_left": 120.0, "requests_left": 3},
    "faults": [
        {"kind": "dynamodb-error", "target": FAULT_TABLES[0], "seconds_left": 120.0, "requests_left": 3},
        {"kind": "sqs-error", "target": FAULT_TABLES[1], "seconds_left": 30.0, "requests_left": None},
    ],
}
OUTPUT_NAMES = ["api_signing_key_arn", "capacity_report_schedule_name", "ingest_failure_queue_url"]
OUTPUTS = {k: f"arn:aws:kms:us-east-1:123456789012:key/{k}-0123456789abcdef" for k in OUTPUT_NAMES}

# (renderer, data, the ids each row must show whole)
TABLE_CASES = {
    "status": (stream_cli.show_status, STATUS, [STATUS["mappings"][0]["function"], FAILURES, DLQ]),
    "iterator-age": (stream_cli.show_iterator_age, ITERATOR_AGE, ["telemetry-local-ingest-function"]),
    "monitors": (stream_cli.show_monitors, MONITORS, [m["id"] for m in MONITORS["monitors"]]),
    "reshard": (stream_cli.show_reshard, RESHARD, []),
    "dlq list": (dlq_cli.show_dlq_list, DLQ_LIST, [FAILURES, DLQ, ALERT_FAILURES]),
    "replay-dlq sqs dry run": (
        functools.partial(dlq_cli.show_sqs_replay, source=DLQ, destination="telemetry-local-rollup-jobs"),
        SQS_DRY_RUN,
        MESSAGE_IDS,
    ),
    "replay-dlq kinesis dry run": (
        functools.partial(dlq_cli.show_kinesis_replay, source=FAILURES),
        KINESIS_DRY_RUN,
        SHARDS,
    ),
    "quarantine list": (
        quarantine_cli.show_quarantine,
        QUARANTINE,
        [r["sequence_number"] for r in QUARANTINE["records"]],
    ),
    "capacity": (capacity_cli._show_capacity, CAPACITY, TABLES),
    "capacity plan": (capacity_cli._show_plan, PLAN, TABLES),
    "sandbox run": (sandbox_cli._run_table, RUN, FUNCTIONS),
    "sandbox drill": (sandbox_cli.show_drill, DRILL, DRILL_STEPS),
    "sandbox drill monitors": (sandbox_cli.show_drill, DRILL_WITH_MONITORS, DRILL_MONITORS),
    "sandbox rollups": (sandbox_cli.show_rollups, ROLLUPS, [fmt.utc(h) for h in HOURS]),
    "sandbox fault": (sandbox_cli.show_faults, FAULTS, FAULT_TABLES),
    "sandbox up": (
        sandbox_cli.show_up,
        {"endpoint": "http://127.0.0.1:4566", "started_server": True, "apply_seconds": 42.0, "outputs": OUTPUTS},
        OUTPUT_NAMES,
    ),
}


def render_as(fn, data, *, width: int | None) -> str:
    """What `fn(data)` prints on stdout: at `width` columns of a terminal, or piped (width None)."""
    saved = render.out._width
    render.out._width = width
    try:
        with render.out.capture() as captured:
            fn(data)
    finally:
        render.out._width = saved
    return captured.get()


@pytest.mark.parametrize("width", [80, None], ids=["80 columns", "piped"])
@pytest.mark.parametrize("case", list(TABLE_CASES))
def test_every_table_keeps_each_rows_id_whole(case, width):
    fn, data, ids = TABLE_CASES[case]
    text = render_as(fn, data, width=width)
    lines = text.splitlines()
    for row_id in ids:
        assert any(row_id in line for line in lines), f"{case}: {row_id!r} is cut in\n{text}"
    for row_id in ids:
        assert f"{row_id[:-1]}…" not in text, f"{case}: {row_id} was truncated\n{text}"
    if width:
        assert max(len(line) for line in lines) <= width, f"{case}: wider than {width} columns\n{text}"
        # compact: a row takes at most three lines, whatever wraps in it (no column squeezed to a letter a line)
        assert len(lines) <= 3 * (len(ids) + 1) + 12, f"{case}: rows run over many lines\n{text}"


def test_a_counted_fault_says_how_many_requests_it_still_fails():
    text = render_as(sandbox_cli.show_faults, FAULTS, width=None)
    assert "or 3 requests, whichever ends first" in text.splitlines()[0]
    rows = {line.split()[0]: line for line in text.splitlines() if line.split() and "-error" in line.split()[0]}
    assert rows["dynamodb-error"].rstrip().endswith("3") and rows["sqs-error"].rstrip().endswith("every one")


def test_piped_output_is_never_wrapped_so_grep_finds_whole_rows():
    text = render_as(stream_cli.show_monitors, MONITORS, width=None)
    row = next(line for line in text.splitlines() if "ingest_iterator_age_warning" in line)
    assert "runbooks/iterator-age.md" in row and "ALARM" in row


def test_a_narrow_terminal_drops_the_least_important_columns_and_says_so():
    text = render_as(stream_cli.show_status, STATUS, width=80)
    assert "hidden to fit 80 columns" in text and "mapping" in text.split("hidden to fit")[1]
    assert MAPPING_UUID in render_as(stream_cli.show_status, STATUS, width=None)


HOSTILE = [
    "\x1b]0;owned\x07",  # OSC: set the terminal's title
    "\x1b[2J\x1b[H",  # clear the screen
    "\x9b31m",  # one-byte CSI
    "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",  # hyperlink
    "\u202eevil\u202c",  # right-to-left override
    "[bold red]FAKE ALARM[/bold red]",  # rich markup
    "[link=http://evil.example]x[/link]",
    "zero\u200bwidth\r\nnext line\x00\x7f",
]
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize("hostile", HOSTILE)
def test_device_text_reaches_the_terminal_as_visible_text(hostile):
    records = [
        {
            **QUARANTINE["records"][0],
            "partition_key": hostile,
            "reason": hostile,
            "preview": hostile,
            "reason_code": hostile,
            "sequence_number": hostile,
        }
    ]
    data = {**QUARANTINE, "records": records, "by_reason": {hostile: 1}}
    for width in (80, None):
        text = render_as(quarantine_cli.show_quarantine, data, width=width)
        assert not _RAW_CONTROL.search(text), repr(text)
        assert "FAKE ALARM" not in hostile or "[bold red]FAKE ALARM" in text
    dry = {**SQS_DRY_RUN, "would_move": [{**SQS_DRY_RUN["would_move"][0], "preview": hostile, "message_id": hostile}]}
    text = render_as(
        functools.partial(dlq_cli.show_sqs_replay, source=DLQ, destination="telemetry-local-rollup-jobs"),
        dry,
        width=None,
    )
    assert not _RAW_CONTROL.search(text), repr(text)


def test_the_neutraliser_shows_what_it_replaced():
    assert render.plain("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert render.plain("\u202e") == "\\u202e"
    assert render.safe("[bold]x[/bold]") == "\\[bold]x\\[/bold]"
    assert render.plain("dev-0001 ünïcode ok") == "dev-0001 ünïcode ok"


@pytest.mark.parametrize(
    "value,text",
    [
        (0.85, "850 ms"),
        (8.86, "8.8 s"),
        (3591, "59 min 51 s"),
        (3 * 3600 + 300, "3 h 05 min"),
        (None, "n/a"),
    ],
)
def test_durations_have_one_form(value, text):
    assert fmt.duration(value) == text


def test_counts_sizes_rates_and_times_have_one_form():
    assert fmt.count(1, "shard") == "1 shard" and fmt.count(2, "shard") == "2 shards"
    assert fmt.count(1, "batch", "batches") == "1 batch" and fmt.count(1_024, "job") == "1,024 jobs"
    assert fmt.rate(12_345.5) == "12,346 rec/s" and fmt.rate(12.25) == "12.2 rec/s"
    assert fmt.size(2_048) == "2.0 KiB" and fmt.size(512) == "512 B"
    assert fmt.utc(1764000000.123) == "2025-11-24T16:00:00Z" == fmt.utc(1764000000123)
    assert fmt.utc("2025-11-24T16:00:00.123456+00:00") == "2025-11-24T16:00:00Z"
    assert fmt.pairs({"temp_c": 21.5, "hum": 40}) == "temp_c=21.5, hum=40"


# -- device text through every renderer --------------------------------------------------------------------------

DEVICES = {
    "count": 2,
    "devices": [
        {
            "device_id": f"meter-{i}",
            "tenant": "acme",
            "status": "active",
            "created_at": 1_764_000_000_000 + i,
            "updated_at": 1_764_000_000_000 + i,
            "certificate_id": "ca877bdedb75cc249fcf615a6bc47f57",
            "thing_name": f"meter-{i}",
        }
        for i in range(2)
    ],
}
DEVICE_SHOWN = {
    "device_id": "meter-0",
    "registry": DEVICES["devices"][0],
    "thing": {"name": "meter-0", "attributes": {"tenant": "acme"}},
    "certificate_status": "ACTIVE",
    "principals": 1,
    "topic": "dt/acme/meter-0/telemetry",
    "consistent": False,
    "problems": ["thing's tenant attribute differs from the registry"],
}
INSPECT = {
    "table": {
        "name": "telemetry-local-readings",
        "items": 2,
        "devices": 1,
        "sample": [{"device_id": "meter-0", "ts": 1_764_000_000_000, "metrics": {"temp_c": 21.5}}],
    },
    "quarantine": {
        "bucket": "q",
        "records": 1,
        "by_reason": {"bad_json": 1},
        "sample": [{"shard_id": SHARDS[0], "sequence_number": SEQ, "reason": "bad_json"}],
    },
    "ingest_failure_queue": {"visible": 0, "in_flight": 0},
}

# Every renderer that can show device-controlled text (ids, tenants, payload previews, reasons, metric names, ...).
DEVICE_TEXT_CASES = {
    **{name: (fn, data) for name, (fn, data, _ids) in TABLE_CASES.items()},
    "devices list": (devices_cli.show_devices, DEVICES),
    "devices show": (devices_cli.show_device, DEVICE_SHOWN),
    "sandbox inspect": (sandbox_cli.show_inspect, INSPECT),
    "sandbox user add": (
        sandbox_cli.show_user,
        {
            "user": "alice",
            "email": "alice@sandbox.invalid",
            "sub": "0f1e",
            "tenant": "acme",
            "operator": False,
            "groups": ["tenant-acme"],
        },
    ),
}

LONG_ID = "meter-" + "9" * 300
FAKE_LINE = "ok\nURGENT: rotate keys at https://evil.example/rotate now\r"


def _hostile(data, text: str, _key: str = ""):
    """`data` with `text` appended to every string in it (dict keys of counts too): as if a device had written each."""
    if isinstance(data, dict):
        return {
            (k + text if isinstance(v, int | float) and not isinstance(v, bool) and not _is_field(k) else k): _hostile(
                v, text, k
            )
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_hostile(v, text, _key) for v in data]
    if isinstance(data, str):
        return data if _key in _OWN_VOCABULARY else data + text
    return data


# values from opsctl's own catalogue that renderers look up (a comparison operator picks its sign): not data
_OWN_VOCABULARY = {"comparison"}


def _is_field(key: str) -> bool:
    # a snake_case field name of opsctl's own, not a key that came from data (a reason, a metric name, a device)
    return re.fullmatch(r"[a-z][a-z0-9_]*", key) is not None and key not in ("temp_c", "bad_json")


@pytest.mark.parametrize("hostile", [*HOSTILE, FAKE_LINE], ids=lambda h: repr(h)[:24])
@pytest.mark.parametrize("case", list(DEVICE_TEXT_CASES))
def test_device_text_in_every_renderer_is_shown_as_visible_text(case, hostile):
    fn, data = DEVICE_TEXT_CASES[case]
    poisoned = _hostile(data, hostile)
    for width in (80, None):
        text = render_as(fn, poisoned, width=width)
        assert not _RAW_CONTROL.search(text), f"{case}: raw control character in\n{text!r}"
    # piped, nothing wraps: a device's newline never starts a line of its own, and its markup stays literal text
    # (rich would have consumed the closing tags had it read them as markup)
    assert not any(line.lstrip(" │").startswith("URGENT") for line in text.splitlines()), f"{case}:\n{text}"
    if "[bold red]" in hostile:
        assert not re.search(r"FAKE ALARM(?!\[/bold red\])", text), f"{case}:\n{text}"
    if "[link=" in hostile:
        assert not re.search(r"\]x(?!\[/link\])", text), f"{case}:\n{text}"


@pytest.mark.parametrize("case", ["devices list", "quarantine list", "replay-dlq sqs dry run"])
def test_a_very_long_device_id_is_never_cut_when_piped(case):
    fn, data = DEVICE_TEXT_CASES[case]
    long = _hostile(data, "9" * 300)
    text = render_as(fn, long, width=None)
    assert "9" * 300 in text, text
