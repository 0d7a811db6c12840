"""The SQS dead-letter mover against a moto server: messages really redriven to a DLQ by maxReceiveCount,
replayed to the queue found from the redrive policy, and read back from both queues."""

from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest

from opsctl.cli.errors import error_line
from opsctl.core.errors import InvalidArgument, OpsError
from opsctl.replay import sqs as sqs_replay

REGION = "us-east-1"

ATTRIBUTES = {
    "kind": {"DataType": "String", "StringValue": "reading"},
    "count": {"DataType": "Number", "StringValue": "42"},
    "ratio": {"DataType": "Number.float", "StringValue": "0.125"},
    "tenant": {"DataType": "String.tenant", "StringValue": "acme"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe\xff"},
    "gz": {"DataType": "Binary.gzip", "BinaryValue": b"\x1f\x8b\x08\x00"},
}


class Queues:
    """A source queue with a RedrivePolicy to a DLQ, on the test's own moto server."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.sqs = boto3.client(
            "sqs", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t"
        )
        self.source = self.dlq = None

    def create(self, name: str = "work", *, fifo: bool = False, max_receive: int = 1) -> Queues:
        suffix = ".fifo" if fifo else ""
        fifo_attrs = {"FifoQueue": "true"} if fifo else {}
        self.dlq = self.sqs.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=fifo_attrs)["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.source = self.sqs.create_queue(
            QueueName=f"{name}{suffix}",
            Attributes={
                **fifo_attrs,
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}),
            },
        )["QueueUrl"]
        return self

    def dead_letters(
        self, bodies: list[str], *, attributes: dict | None = None, groups: list[str] | None = None
    ) -> None:
        """Sends to the source and receives each message past maxReceiveCount, so SQS moves it to the DLQ."""
        for i, body in enumerate(bodies):
            extra = {"MessageGroupId": groups[i], "MessageDeduplicationId": f"dedup-{i}"} if groups else {}
            self.sqs.send_message(QueueUrl=self.source, MessageBody=body, MessageAttributes=attributes or {}, **extra)
        for _ in range(len(bodies) * 3):
            got = self.sqs.receive_message(QueueUrl=self.source, MaxNumberOfMessages=10).get("Messages", [])
            if not got and self.depth(self.dlq) >= len(bodies):
                break
        assert self.depth(self.dlq) == len(bodies) and self.depth(self.source) == 0

    def into_dlq(self, bodies: list[str], groups: list[str], attributes: dict | None = None) -> None:
        """Sends straight to a FIFO DLQ, so its order within each group is known (moto's redrive of a FIFO
        source reorders groups as it receives them)."""
        for i, body in enumerate(bodies):
            self.sqs.send_message(
                QueueUrl=self.dlq,
                MessageBody=body,
                MessageAttributes=attributes or {},
                MessageGroupId=groups[i],
                MessageDeduplicationId=f"dedup-{i}",
            )

    def depth(self, url: str) -> int:
        a = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )
        return int(a["Attributes"]["ApproximateNumberOfMessages"]) + int(
            a["Attributes"]["ApproximateNumberOfMessagesNotVisible"]
        )

    def visible(self, url: str) -> int:
        return int(
            self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )

    def drain(self, url: str) -> list[dict]:
        """Every message of `url`, in the order SQS hands them out, deleted as read (FIFO groups unlock)."""
        out = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                VisibilityTimeout=30,
            ).get("Messages", [])
            if not got:
                return out
            out += got
            self.sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
            )


@pytest.fixture
def q(moto_endpoint) -> Queues:
    return Queues(moto_endpoint)


def _opts(**kw) -> sqs_replay.MoveOptions:
    kw.setdefault("wait_time_s", 0)
    return sqs_replay.MoveOptions(**kw)


def test_the_destination_is_found_from_the_redrive_policy(q):
    q.create()
    assert sqs_replay.source_queues(q.sqs, q.dlq) == [q.source]
    assert sqs_replay.source_queues(q.sqs, q.source) == []


def test_every_message_goes_back_with_every_attribute_type(q):
    q.create()
    bodies = [json.dumps({"device_id": f"dev-{i}", "n": i}) for i in range(23)]
    q.dead_letters(bodies, attributes=ATTRIBUTES)
    report = sqs_replay.move(q.sqs, q.dlq, q.source, _opts())
    assert report.moved == 23 and not report.failed and report.skipped == 0
    assert q.depth(q.dlq) == 0
    back = q.drain(q.source)
    assert Counter(m["Body"] for m in back) == Counter(bodies)
    for m in back:
        assert m["MessageAttributes"] == ATTRIBUTES  # String, Number, Binary and custom types, byte for byte
    assert report.left_visible == 0 and report.left_in_flight == 0


def test_fifo_order_within_each_group_and_group_ids_survive(q):
    q.create("orders", fifo=True)
    groups = [f"g{i % 3}" for i in range(24)]
    bodies = [f"{groups[i]}-{i:02d}" for i in range(24)]
    q.into_dlq(bodies, groups, attributes={"seq": {"DataType": "Number", "StringValue": "1"}})
    report = sqs_replay.move(q.sqs, q.dlq, q.source, _opts(concurrency=8))
    assert report.fifo and report.moved == 24
    back = q.drain(q.source)
    assert len(back) == 24
    for g in ("g0", "g1", "g2"):
        mine = [m for m in back if m["Attributes"]["MessageGroupId"] == g]
        assert [m["Body"] for m in mine] == [b for b in bodies if b.startswith(g)]  # sent order within the group
    # Just dead-lettered, so still inside the source's 5-minute dedup interval: the original id would make SQS
    # drop the copy, so each gets a stable replay id instead.
    assert {m["Attributes"]["MessageDeduplicationId"][:7] for m in back} == {"replay-"}


def test_a_fifo_message_first_sent_long_ago_keeps_its_dedup_id():
    now = 1_800_000_000_000
    msg = {
        "MessageId": "m-1",
        "Body": "x",
        "Attributes": {"MessageGroupId": "g", "MessageDeduplicationId": "orig-7", "SentTimestamp": str(now - 301_000)},
    }
    entry = sqs_replay.send_entry(msg, "0", fifo=True, now_ms=now)
    assert entry["MessageGroupId"] == "g" and entry["MessageDeduplicationId"] == "orig-7"
    msg["Attributes"]["SentTimestamp"] = str(now - 299_000)
    assert sqs_replay.send_entry(msg, "0", fifo=True, now_ms=now)["MessageDeduplicationId"] == "replay-m-1"


class RejectingSqs:
    """The real (moto) client, except that SendMessageBatch reports entries whose body contains 'reject' as
    Failed, as AWS does for a throttled or invalid entry (moto never fails an entry)."""

    def __init__(self, sqs):
        self._sqs = sqs

    def __getattr__(self, name):
        return getattr(self._sqs, name)

    def send_message_batch(self, QueueUrl, Entries):
        bad = [e for e in Entries if "reject" in e["MessageBody"]]
        good = [e for e in Entries if "reject" not in e["MessageBody"]]
        resp = (
            self._sqs.send_message_batch(QueueUrl=QueueUrl, Entries=good) if good else {"Successful": [], "Failed": []}
        )
        resp.setdefault("Failed", [])
        resp["Failed"] += [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "injected"} for e in bad
        ]
        return resp


def test_a_partly_failed_send_batch_deletes_only_the_sent_entries(q):
    q.create()
    bodies = [f"reject-{i}" if i % 4 == 1 else f"ok-{i}" for i in range(20)]
    q.dead_letters(bodies)
    report = sqs_replay.move(RejectingSqs(q.sqs), q.dlq, q.source, _opts())
    rejected = [b for b in bodies if b.startswith("reject")]
    assert report.moved == 15 and len(report.failed) == 5
    assert {f["code"] for f in report.failed} == {"InternalError"}
    assert sorted(m["Body"] for m in q.drain(q.source)) == sorted(b for b in bodies if b.startswith("ok"))
    assert q.visible(q.dlq) == 5  # failed entries stay in the DLQ, visible again at once
    assert sorted(m["Body"] for m in q.drain(q.dlq)) == sorted(rejected)


def test_a_failed_fifo_message_holds_back_the_rest_of_its_group(q):
    q.create("orders", fifo=True)
    groups = ["a", "a", "a", "b", "b"]
    bodies = ["a-0", "a-1-reject", "a-2", "b-0", "b-1"]
    q.into_dlq(bodies, groups)
    report = sqs_replay.move(RejectingSqs(q.sqs), q.dlq, q.source, _opts())
    back = [m["Body"] for m in q.drain(q.source)]
    assert back[:1] == ["a-0"] and "a-2" not in back and {"b-0", "b-1"} <= set(back)
    assert [m["Body"] for m in q.drain(q.dlq)] == ["a-1-reject", "a-2"]  # still in order for the next run
    assert len(report.failed) == 1 and report.skipped == 1


class CrashingSqs:
    """The SQS client, except that the process dies right after a delete brings the deleted count to `after`."""

    def __init__(self, sqs, after: int):
        self._sqs, self._after, self._deleted = sqs, after, 0

    def __getattr__(self, name):
        return getattr(self._sqs, name)

    def delete_message_batch(self, **kwargs):
        resp = self._sqs.delete_message_batch(**kwargs)
        self._deleted += len(resp.get("Successful", []))
        if self._deleted >= self._after:
            raise RuntimeError("injected crash")
        return resp


def test_a_crash_after_k_messages_loses_nothing_and_a_rerun_finishes(q, tmp_path):
    q.create()
    bodies = [f"m-{i:03d}" for i in range(45)]
    q.dead_letters(bodies)
    backup = tmp_path / "moved.jsonl"
    with pytest.raises(RuntimeError, match="injected crash"):
        sqs_replay.move(CrashingSqs(q.sqs, after=12), q.dlq, q.source, _opts(backup=backup, concurrency=1))
    # Nothing lost: each message is in the DLQ, the source, or (sent but not yet deleted) both.
    in_source = {m["Body"] for m in q.drain(q.source)}
    assert len(in_source) >= 12
    assert q.visible(q.dlq) + len(in_source) >= 45  # what the crash held in hand is visible again at once
    backed_up = {json.loads(line)["body"] for line in backup.read_text().splitlines()}
    assert in_source <= backed_up  # written before it was sent
    report = sqs_replay.move(q.sqs, q.dlq, q.source, _opts(backup=backup))
    assert q.depth(q.dlq) == 0
    assert in_source | {m["Body"] for m in q.drain(q.source)} == set(bodies)
    assert report.moved == 45 - len(in_source)


class EmptyReceives:
    """The SQS client, except that the receives numbered in `empty` answer no message (a long poll that came back
    empty from a server too slow to look, as moto under load does), whatever the queue holds."""

    def __init__(self, sqs, empty: set[int]):
        self._sqs, self._empty, self.receives = sqs, empty, 0

    def __getattr__(self, name):
        return getattr(self._sqs, name)

    def receive_message(self, **kwargs):
        self.receives += 1
        if self.receives in self._empty:
            return {"Messages": []}
        return self._sqs.receive_message(**kwargs)


def test_an_empty_receive_with_messages_still_visible_does_not_end_the_replay(q):
    q.create()
    bodies = [f"m-{i:03d}" for i in range(35)]
    q.dead_letters(bodies)
    flaky = EmptyReceives(q.sqs, empty={2, 3})  # two empty answers in a row, after the first batch
    report = sqs_replay.move(flaky, q.dlq, q.source, _opts(concurrency=1))
    assert report.moved == 35 and q.depth(q.dlq) == 0
    assert sorted(m["Body"] for m in q.drain(q.source)) == bodies


def test_a_queue_that_counts_messages_no_receive_brings_ends_the_replay_after_a_few_tries(q):
    q.create()
    q.dead_letters([f"m-{i}" for i in range(5)])
    never = EmptyReceives(q.sqs, empty=set(range(1, 100)))
    report = sqs_replay.move(never, q.dlq, q.source, _opts(concurrency=1))
    assert report.moved == 0 and report.left_visible == 5  # the report says what is still waiting
    assert never.receives == sqs_replay.EMPTY_RECEIVES_CONFIRMED + 1


def test_dry_run_lists_and_moves_nothing_and_every_message_is_visible_again_at_once(q):
    q.create()
    bodies = [json.dumps({"device_id": "dev-1", "i": i}) for i in range(14)]
    q.dead_letters(bodies)
    report = sqs_replay.move(q.sqs, q.dlq, q.source, _opts(dry_run=True, visibility_timeout_s=300))
    assert report.moved == 0 and len(report.listed) == 14
    assert q.visible(q.dlq) == 14 and q.depth(q.source) == 0
    row = report.listed[0]
    assert set(row) == {"message_id", "age_s", "receive_count", "size_bytes", "group", "preview"}
    assert row["receive_count"] >= 2 and row["preview"].startswith('{"device_id"')


def test_filter_moves_only_what_it_selects_and_the_rest_stays_visible(q):
    q.create()
    bodies = [json.dumps({"device_id": f"dev-{i % 3}", "i": i}) for i in range(18)] + ["not json"]
    q.dead_letters(bodies)
    report = sqs_replay.move(
        q.sqs, q.dlq, q.source, _opts(filter_expression="device_id == 'dev-1'", visibility_timeout_s=300)
    )
    assert report.moved == 6 and report.skipped == 13
    assert all(json.loads(m["Body"])["device_id"] == "dev-1" for m in q.drain(q.source))
    assert q.visible(q.dlq) == 13


def test_max_moves_at_most_n_and_backup_holds_each_moved_message(q, tmp_path):
    q.create()
    bodies = [f"b-{i}" for i in range(25)]
    q.dead_letters(bodies, attributes={"blob": ATTRIBUTES["blob"]})
    backup = tmp_path / "b.jsonl"
    report = sqs_replay.move(q.sqs, q.dlq, q.source, _opts(max_messages=7, backup=backup, visibility_timeout_s=300))
    moved = [m["Body"] for m in q.drain(q.source)]
    assert report.moved == 7 and len(moved) == 7
    lines = [json.loads(line) for line in backup.read_text().splitlines()]
    assert sorted(x["body"] for x in lines) == sorted(moved)
    assert lines[0]["message_attributes"]["blob"] == {"DataType": "Binary", "BinaryValue": "AAH+/w=="}
    assert q.visible(q.dlq) == 18


def test_batches_stay_under_256_kib_and_ten_entries():
    entries = [{"Id": str(i), "MessageBody": "x" * (100 * 1024)} for i in range(5)] + [
        {"Id": f"s{i}", "MessageBody": "y"} for i in range(12)
    ]
    batches = sqs_replay.split_batches(entries)
    assert [e["Id"] for b in batches for e in b] == [e["Id"] for e in entries]  # order kept
    assert all(len(b) <= 10 and sum(sqs_replay.message_size(e) for e in b) <= 256 * 1024 for b in batches)
    assert [len(b) for b in batches] == [2, 2, 10, 3]
    fifo = [{"Id": str(i), "MessageBody": "z", "MessageGroupId": g} for i, g in enumerate("aabcab")]
    assert [[e["MessageGroupId"] for e in b] for b in sqs_replay.split_batches(fifo)] == [
        ["a"],
        ["a", "b", "c"],
        ["a", "b"],
    ]


def test_rate_limit_spaces_batches():
    now = [0.0]
    slept = []
    limiter = sqs_replay.RateLimiter(
        20, clock=lambda: now[0], sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s))
    )
    for _ in range(5):
        limiter.acquire(10)  # 50 messages at 20 msg/s: the last batch may start at 2.0 s
    assert now[0] == pytest.approx(2.0)


def test_a_bad_filter_and_an_unknown_queue_are_clear_errors(q):
    with pytest.raises(InvalidArgument) as exc:
        sqs_replay.compile_filter("device_id ==")
    assert error_line(exc.value).startswith("bad --filter 'device_id =='")
    with pytest.raises(OpsError, match="no such queue: nope"):
        sqs_replay.queue_url(q.sqs, "nope")


def test_the_backup_is_created_owner_only_whatever_the_umask(q, tmp_path):
    import os
    import stat

    q.create()
    q.dead_letters(["secret-1", "secret-2"])
    backup = tmp_path / "b.jsonl"
    old = os.umask(0)  # a shell that would make files world-readable
    try:
        sqs_replay.move(q.sqs, q.dlq, q.source, _opts(backup=backup, visibility_timeout_s=300))
    finally:
        os.umask(old)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600 and len(backup.read_text().splitlines()) == 2
    q.drain(q.source)
    # An existing file another tool made world-readable is tightened before anything is written to it.
    loose = tmp_path / "loose.jsonl"
    loose.write_text("")
    loose.chmod(0o644)
    q.dead_letters(["secret-3"])
    sqs_replay.move(q.sqs, q.dlq, q.source, _opts(backup=loose, visibility_timeout_s=300))
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600


def test_a_backup_that_is_a_symlink_is_refused_and_nothing_moves(q, tmp_path):
    q.create()
    q.dead_letters(["secret-1"])
    waiting = q.visible(q.dlq)
    target = tmp_path / "elsewhere.jsonl"
    link = tmp_path / "b.jsonl"
    link.symlink_to(target)
    with pytest.raises(OpsError, match="is a symlink; refusing to follow it"):
        sqs_replay.move(q.sqs, q.dlq, q.source, _opts(backup=link, visibility_timeout_s=300))
    assert not target.exists() and q.visible(q.dlq) == waiting  # nothing written through it, nothing moved


def test_replay_help_says_how_the_backup_is_protected():
    from typer.testing import CliRunner

    from opsctl.cli.app import app

    result = CliRunner().invoke(app, ["replay-dlq", "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "0600" in text and "symlink refused" in text


def _receive_counts(q, url: str) -> dict[str, int]:
    """{body: ApproximateReceiveCount} of every message of `url` (this look adds one), all visible again after."""
    counts, handles = {}, []
    while True:
        got = q.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"], VisibilityTimeout=30
        ).get("Messages", [])
        if not got:
            break
        for m in got:
            counts[m["Body"]] = int(m["Attributes"]["ApproximateReceiveCount"])
            handles.append(m["ReceiptHandle"])
    for i in range(0, len(handles), 10):
        q.sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(j), "ReceiptHandle": h, "VisibilityTimeout": 0} for j, h in enumerate(handles[i : i + 10])
            ],
        )
    return counts


def test_a_dry_run_listing_receives_each_message_once(q):
    q.create()
    bodies = [f"job-{i}" for i in range(30)]
    q.dead_letters(bodies)
    before = _receive_counts(q, q.dlq)
    report = sqs_replay.move(q.sqs, q.dlq, q.source, _opts(dry_run=True, visibility_timeout_s=300, wait_time_s=1))
    assert sorted(r["preview"] for r in report.listed) == sorted(bodies)
    after = _receive_counts(q, q.dlq)
    assert {b: after[b] - before[b] for b in bodies} == {b: 2 for b in bodies}  # the listing's receive and this look


class _Overlaps:
    """The DLQ's client, counting how many ReceiveMessage calls were in flight at once."""

    def __init__(self, sqs):
        import threading

        self.sqs, self.lock, self.now, self.most = sqs, threading.Lock(), 0, 0

    def __getattr__(self, name):
        return getattr(self.sqs, name)

    def receive_message(self, **kwargs):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return self.sqs.receive_message(**kwargs)
        finally:
            with self.lock:
                self.now -= 1


def test_a_dry_run_lists_with_one_receiver_so_no_two_receives_share_a_message(q):
    # Two receives at once on a standard queue may both get the same message (SQS delivers at least once; moto's
    # receive has no lock, which made a listing at load ~5 count one message twice): a listing never overlaps them.
    q.create()
    q.dead_letters([f"job-{i}" for i in range(40)])
    counted = _Overlaps(q.sqs)
    report = sqs_replay.move(counted, q.dlq, q.source, _opts(dry_run=True, visibility_timeout_s=300, wait_time_s=1))
    assert len(report.listed) == 40 and counted.most == 1
    moving = _Overlaps(q.sqs)  # a real move keeps its parallel receivers (a repeat there is sent once more: idempotent)
    sqs_replay.move(moving, q.dlq, q.source, _opts(visibility_timeout_s=300, wait_time_s=1))
    assert q.depth(q.dlq) == 0
