"""The poison-record quarantine: what the ingest function set aside, and why.

The ingest function writes one object per batch's poison, `{prefix}dt=YYYY-MM-DD/{shard_id}/{first}-{last}.jsonl`,
one JSON line per record (docs/architecture.md); older quarantines hold one `{sequence_number}.json` object per
record, and both are read. A day narrows the listing to one prefix; a re-delivered batch overwrites its own
object, and a record found in two objects (a batch re-delivered from a later point) is listed once. Reading is
bounded by `limit` records because a production quarantine can be large; the listing says when it stopped early."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field

from opsctl.core.errors import InvalidArgument, OpsError
from opsctl.core.stack import Stack

DEFAULT_PREFIX = "quarantine/"
PREVIEW_BYTES = 120


@dataclass
class QuarantineListing:
    bucket: str
    prefix: str
    read: int = 0
    truncated: bool = False
    by_reason: Counter = field(default_factory=Counter)
    records: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "read": self.read,
            "truncated": self.truncated,
            "matched": len(self.records),
            "by_reason": dict(sorted(self.by_reason.items())),
            "records": self.records,
        }


def day_prefix(base: str, day: str | None) -> str:
    """The key prefix for one UTC day (`YYYY-MM-DD`), or the whole quarantine; a malformed day is a user error."""
    if day is None:
        return base
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        raise InvalidArgument(f"{{day}} must be a UTC date like 2026-11-24, not {day!r}", arguments=["day"]) from None
    return f"{base}dt={day}/"


def preview(data_base64: str | None) -> str:
    """A printable start of the raw record (poison data can be binary or huge)."""
    if not data_base64:
        return ""
    raw = base64.b64decode(data_base64)[:PREVIEW_BYTES]
    return raw.decode("utf-8", errors="replace")


def _bodies(key: str, text: str) -> list[dict]:
    """The quarantined records in one object: JSON lines (a batch's, `.jsonl`) or one JSON document (`.json`)."""
    if key.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return [json.loads(text)]


def list_records(
    stack: Stack, *, day: str | None = None, reason: str | None = None, limit: int = 200, with_data: bool = False
) -> QuarantineListing:
    """Quarantined records (newest prefixes last, as S3 lists them), reading at most `limit` objects."""
    from botocore.exceptions import ClientError

    s3 = stack.target.client("s3")
    bucket = stack.get("quarantine_bucket")
    listing = QuarantineListing(
        bucket=bucket, prefix=day_prefix(stack.outputs.get("quarantine_prefix") or DEFAULT_PREFIX, day)
    )
    seen: set[tuple[str, str]] = set()
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=listing.prefix):
            for obj in page.get("Contents", []):
                text = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode("utf-8", errors="replace")
                for line_no, body in enumerate(_bodies(obj["Key"], text), start=1):
                    identity = (str(body.get("shard_id")), str(body.get("sequence_number")))
                    if identity in seen:
                        continue
                    if listing.read >= limit:
                        listing.truncated = True
                        return listing
                    seen.add(identity)
                    listing.read += 1
                    listing.by_reason[body.get("reason_code", "?")] += 1
                    if reason and body.get("reason_code") != reason:
                        continue
                    record = {
                        "key": obj["Key"],
                        "line": line_no,
                        **{k: v for k, v in body.items() if k != "data_base64"},
                        "preview": preview(body.get("data_base64")),
                    }
                    if with_data:
                        record["data_base64"] = body.get("data_base64")
                    listing.records.append(record)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("NoSuchBucket", "AccessDenied"):
            raise OpsError(
                f"cannot read the quarantine bucket {bucket!r}: {code}",
                hint="check {env} and your credentials, or pass {quarantine_bucket}",
                arguments=["env", "quarantine_bucket"],
            ) from None
        raise
    return listing
