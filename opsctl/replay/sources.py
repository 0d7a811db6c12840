"""The environment's dead-letter and on-failure queues: which there are, how urgent each is, and where a
replay of each goes. Plain data; `opsctl dlq list` and `opsctl replay-dlq` render and act on it.

Two kinds of queue hold failed work, and they are replayed differently:
- an SQS dead-letter queue (e.g. the rollup DLQ) holds the messages themselves: they go back to the queue
  whose redrive policy names the DLQ (opsctl.replay.sqs);
- a Lambda on-failure destination of a Kinesis mapping (the ingest consumer's) holds only pointers into
  the stream, which expire with the stream's retention (opsctl.replay.kinesis)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from opsctl.core.errors import InvalidArgument, OpsError
from opsctl.replay import kinesis as kr
from opsctl.replay import sqs as sqs_replay

SQS_DLQ = "sqs-dlq"
KINESIS_ON_FAILURE = "kinesis-on-failure"
# --source shortcuts: the Terraform output that names each queue.
NAMED_SOURCES = {"rollup": "rollup_dlq_url", "ingest": "ingest_failure_queue_url"}
PEEK_DEFAULT = 100  # failure records `dlq list` reads to find the soonest expiry (each is made visible again at once)
NATIVE_MAX_RATE_PER_S = 500  # AWS: StartMessageMoveTask moves at most 500 messages per second
NATIVE_POLL_S = 2.0  # seconds between ListMessageMoveTasks calls while a native task runs


@dataclass
class Source:
    """A queue to replay and where its contents go."""

    label: str
    kind: str
    url: str
    arn: str
    destination_url: str | None = None  # SQS DLQ: the queue that feeds it
    mapping: dict | None = None  # Kinesis on-failure: the event source mapping that writes to it

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


def _arn(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def on_failure_mappings(lambda_client, queue_arn: str) -> list[dict]:
    """Every event source mapping whose on-failure destination is `queue_arn` (all pages)."""
    found, marker = [], None
    while True:
        resp = lambda_client.list_event_source_mappings(**({"Marker": marker} if marker else {}))
        found += [
            m
            for m in resp.get("EventSourceMappings", [])
            if ((m.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination") == queue_arn
        ]
        marker = resp.get("NextMarker")
        if not marker:
            return found


def named_queue_url(stack, source: str) -> str:
    """The URL behind --source rollup|ingest, or one line saying the environment has no such queue."""
    output = NAMED_SOURCES[source]
    url = stack.outputs.get(output)
    if not url:
        raise OpsError(
            f"environment {stack.env!r} has no {output!r} output, so it has no {source} queue to replay",
            hint=f"apply the environment with the {source} stage, or name the queue: {{source}} QUEUE_URL_OR_NAME",
            arguments=["source"],
        )
    return url


def resolve(stack, source: str, *, to: str | None = None) -> Source:
    """What --source names (rollup, ingest, or a queue's name/URL/ARN) and where its contents go."""
    t = stack.target
    sqs = t.client("sqs")
    url = sqs_replay.queue_url(sqs, named_queue_url(stack, source) if source in NAMED_SOURCES else source)
    arn = _arn(sqs, url)
    sources = sqs_replay.source_queues(sqs, url) if source != "ingest" else []
    if to:
        dest = sqs_replay.queue_url(sqs, to)
        if dest == url:
            raise InvalidArgument(
                "{to} names the queue being replayed",
                hint="name the queue the messages should go back to",
                arguments=["to"],
            )
        return Source(label=source, kind=SQS_DLQ, url=url, arn=arn, destination_url=dest)
    if sources:
        if len(sources) > 1:
            names = ", ".join(s.rsplit("/", 1)[-1] for s in sources)
            raise OpsError(
                f"{len(sources)} queues send their dead letters to {url.rsplit('/', 1)[-1]} ({names}): "
                "which one gets them back?",
                hint="pass {to} QUEUE",
                arguments=["to"],
            )
        return Source(label=source, kind=SQS_DLQ, url=url, arn=arn, destination_url=sources[0])
    mappings = on_failure_mappings(t.client("lambda"), arn)
    if mappings:
        return Source(label=source, kind=KINESIS_ON_FAILURE, url=url, arn=arn, mapping=mappings[0])
    if source == "ingest":
        # The on-failure queue exists but no mapping writes to it any more: its records still name their stream.
        return Source(label=source, kind=KINESIS_ON_FAILURE, url=url, arn=arn, mapping=None)
    raise OpsError(
        f"queue {url.rsplit('/', 1)[-1]} has no source: no redrive policy names it as a dead-letter queue and no event "
        "source "
        "mapping sends failures to it",
        hint="pass {to} QUEUE to say where its messages go",
        arguments=["to"],
    )


# -- opsctl dlq list -------------------------------------------------------------------------------------


def _queue_outputs(stack) -> list[tuple[str, str]]:
    """(output name, URL) of every dead-letter or on-failure queue among the environment's outputs."""
    return [
        (k, v)
        for k, v in sorted(stack.outputs.items())
        if v and isinstance(v, str) and (k.endswith("_dlq_url") or k.endswith("_failure_queue_url"))
    ]


def _oldest_age_s(cloudwatch, queue_name: str, now: dt.datetime) -> float | None:
    # Peeking at a DLQ would bump receive counts; CloudWatch knows the oldest message's age without touching it.
    try:
        dps = cloudwatch.get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": queue_name}],
            StartTime=now - dt.timedelta(minutes=10),
            EndTime=now,
            Period=300,
            Statistics=["Maximum"],
        ).get("Datapoints", [])
    except Exception:  # noqa: BLE001 - an age we cannot read is shown as unknown, not as a failure of the listing
        return None
    return max((d["Maximum"] for d in dps), default=None)


def failure_record_expiry(sqs, kinesis, url: str, *, peek: int) -> dict:
    """For an on-failure queue: how many failure records, records referenced, and the soonest expiry.

    Reads up to `peek` messages and makes them visible again at once (the queue has no redrive policy, so
    the receive count it bumps matters to nobody)."""
    messages = kr.receive_all(sqs, url, limit=peek, visibility_timeout_s=30, wait_time_s=0)
    try:
        records, bad = [], 0
        for m in messages:
            try:
                records.append(kr.FailureRecord.parse(m))
            except ValueError:
                bad += 1
        facts = {}
        for arn in {r.stream_arn for r in records}:
            try:
                facts[arn] = kr.StreamFacts.read(kinesis, arn)
            except Exception:  # noqa: BLE001 - a deleted stream: its records are gone
                facts[arn] = kr.StreamFacts(retention_hours=0, shards={})
        now = kr.clock()
        lefts = [facts[r.stream_arn].seconds_left(r, now) for r in records]
        known = [x for x in lefts if x is not None]
        sent = [int((m.get("Attributes") or {}).get("SentTimestamp") or 0) for m in messages]
        oldest_sent = min(sent, default=0)
        return {
            "peeked": len(messages),
            "failure_records": len(records),
            "not_failure_records": bad,
            "records_referenced": sum(r.batch_size for r in records),
            "expired_failure_records": sum(1 for x in known if x <= 0),
            "expired_records": sum(
                r.batch_size for r, x in zip(records, lefts, strict=True) if x is not None and x <= 0
            ),
            "soonest_expiry_s": round(min(known)) if known else None,
            "expiry_level": kr.expiry_level(min(known)) if known else ("none" if not records else "unknown"),
            "oldest_seen_age_s": round(time.time() - oldest_sent / 1000) if oldest_sent else None,
        }
    finally:
        kr.release(sqs, url, [m["ReceiptHandle"] for m in messages])


def list_queues(stack, *, peek: int = PEEK_DEFAULT) -> dict:
    """Every DLQ and on-failure queue of the environment, the most urgent first."""
    t = stack.target
    sqs, now = t.client("sqs"), dt.datetime.now(dt.UTC)
    rows = []
    for output, url in _queue_outputs(stack):
        row: dict = {"output": output, "queue": url.rstrip("/").rsplit("/", 1)[-1], "url": url}
        try:
            attrs = sqs_replay.queue_attributes(sqs, url, ["All"])
        except Exception as exc:  # noqa: BLE001 - one unreadable queue must not hide the others
            row.update(kind="unknown", error=str(exc).splitlines()[0])
            rows.append(row)
            continue
        row.update(
            visible=int(attrs.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
            retention_s=int(attrs.get("MessageRetentionPeriod", 0)),
            oldest_age_s=_oldest_age_s(t.client("cloudwatch"), row["queue"], now),
        )
        mappings = (
            on_failure_mappings(t.client("lambda"), attrs.get("QueueArn", ""))
            if output.endswith("_failure_queue_url")
            else []
        )
        if output.endswith("_failure_queue_url"):
            row.update(
                kind=KINESIS_ON_FAILURE,
                replays_to=", ".join(m["FunctionArn"].rsplit(":", 1)[-1] for m in mappings) or None,
                replay_source="ingest" if output == NAMED_SOURCES["ingest"] else url,
            )
            row.update(failure_record_expiry(sqs, t.client("kinesis"), url, peek=peek))
            if row["oldest_age_s"] is None:
                row["oldest_age_s"] = row["oldest_seen_age_s"]
        else:
            sources = sqs_replay.source_queues(sqs, url)
            row.update(
                kind=SQS_DLQ,
                replays_to=", ".join(s.rsplit("/", 1)[-1] for s in sources) or None,
                replay_source="rollup" if output == NAMED_SOURCES["rollup"] else url,
                soonest_expiry_s=None,
                expiry_level=None,
            )
        rows.append(row)
    urgency = {"expired": 0, "urgent": 1, "soon": 2, "ok": 3, "unknown": 4, "none": 5, None: 6}
    rows.sort(
        key=lambda r: (urgency.get(r.get("expiry_level"), 6), r.get("soonest_expiry_s") or 0, -(r.get("visible") or 0))
    )
    return {
        "environment": stack.env,
        "queues": rows,
        "missing": [o for o in NAMED_SOURCES.values() if not stack.outputs.get(o)],
    }


# -- --native: StartMessageMoveTask ----------------------------------------------------------------------


def native_move(
    sqs,
    source: Source,
    *,
    rate_per_s: float | None,
    progress=lambda moved, total: None,
    poll_s: float = NATIVE_POLL_S,
    sleep=time.sleep,
) -> dict:
    """Starts AWS's own redrive of `source` back to its source queue and follows it to the end."""
    assert source.destination_url is not None  # an SQS DLQ source always names the queue that feeds it
    args: dict[str, str | int] = {"SourceArn": source.arn, "DestinationArn": _arn(sqs, source.destination_url)}
    if rate_per_s:
        args["MaxNumberOfMessagesPerSecond"] = int(min(NATIVE_MAX_RATE_PER_S, max(1, rate_per_s)))
    try:
        handle = sqs.start_message_move_task(**args)["TaskHandle"]
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if (
            isinstance(exc, NotImplementedError)
            or code in ("InternalFailure", "500", "NotImplemented")
            or "not been implemented" in str(exc)
        ):
            raise OpsError(
                "this endpoint does not implement StartMessageMoveTask (the sandbox's moto does not)",
                hint="drop {native}: the client-side mover does the same, and more",
                arguments=["native"],
            ) from None
        raise
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source.arn, MaxResults=1).get("Results", [])
        task = tasks[0] if tasks else {}
        moved, total = (
            int(task.get("ApproximateNumberOfMessagesMoved", 0)),
            task.get("ApproximateNumberOfMessagesToMove"),
        )
        progress(moved, total)
        status = task.get("Status")
        if status in ("COMPLETED", "CANCELLED", "FAILED"):
            return {
                "task_handle": handle,
                "status": status,
                "moved": moved,
                "to_move": total,
                "failure_reason": task.get("FailureReason"),
            }
        sleep(poll_s)
