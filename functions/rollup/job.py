"""A rollup job: "recompute the hour starting at `hour_start` for `device_id`", as one SQS message body.

The one definition the ingest function (producer) and the rollup worker (consumer) share. Pure: no I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import NamedTuple

HOUR_MS = 3_600_000
DEVICE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")  # docs/architecture.md, the same rule as a reading's
MAX_BODY_BYTES = 1_024  # a job is ~60 bytes; anything bigger is not one of ours
MIN_HOUR_START_MS, MAX_HOUR_START_MS = 0, 253_402_300_800_000 - HOUR_MS  # up to 9999-12-31T23:00Z


class RollupJob(NamedTuple):
    device_id: str
    hour_start: int  # epoch milliseconds, a multiple of HOUR_MS (UTC hours)

    def body(self) -> str:
        """The SQS message body: compact JSON, keys sorted, so one job is always the same bytes."""
        return json.dumps(
            {"device_id": self.device_id, "hour_start": self.hour_start}, separators=(",", ":"), sort_keys=True
        )


class BadJob(ValueError):
    """A message body that is not a rollup job; the message fails (and after maxReceiveCount, the DLQ)."""


def hour_start(ts_ms: int) -> int:
    """The epoch milliseconds of the UTC hour `ts_ms` falls in."""
    return ts_ms - ts_ms % HOUR_MS


def jobs_for(readings: Iterable[tuple[str, int]]) -> list[RollupJob]:
    """One job per (device_id, hour) among (device_id, ts_ms) pairs, in first-seen order."""
    return list(dict.fromkeys(RollupJob(device, hour_start(ts)) for device, ts in readings))


def parse(body: str) -> RollupJob:
    """The job in a message body, or BadJob saying what is wrong with it."""
    if not isinstance(body, str) or len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise BadJob(f"body is not a string of at most {MAX_BODY_BYTES} bytes")
    try:
        doc = json.loads(body)
    except ValueError:
        raise BadJob("body is not JSON") from None
    if not isinstance(doc, dict):
        raise BadJob("body is not a JSON object")
    device, hour = doc.get("device_id"), doc.get("hour_start")
    if not isinstance(device, str) or not DEVICE_ID.fullmatch(device):
        raise BadJob("device_id is missing or not [A-Za-z0-9_.:-]{1,128}")
    if isinstance(hour, bool) or not isinstance(hour, int):
        raise BadJob("hour_start is missing or not an integer (epoch milliseconds)")
    if not MIN_HOUR_START_MS <= hour <= MAX_HOUR_START_MS or hour % HOUR_MS:
        raise BadJob("hour_start is not the start of a UTC hour in epoch milliseconds")
    return RollupJob(device, hour)
