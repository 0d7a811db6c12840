"""The sandbox's moto server with and without this module's three request-path changes, side by side in one run:
the same requests, interleaved ABBA, against two servers started here (`before`: moto_main with
moto_speed.backend_per_host_remembered, moto_speed.delete_in_one_pass and moto_serialize.install_attribute_values
switched off; `after`: moto_main as the sandbox runs it). Not part of `make bench` (it starts two servers of its own);
run it alone:

    .venv/bin/python tests/bench/moto_server_ab.py [--queue 5000] [--rounds 40]

The mix: a Query answering 100 readings of four metrics (a rollup worker's hour, a read API page), a GetItem,
ReceiveMessage + DeleteMessageBatch (+ SendMessageBatch of the same, so the depth stays) of 10 on a queue of QUEUE
jobs, PutRecords of 100. Prints medians per request and the before/after ratio."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPS = ("query100", "get_item", "receive+delete10", "put_records100")


def serve(variant: str, port: int) -> None:
    if variant == "before":
        from opsctl.sandbox import moto_serialize, moto_speed

        moto_speed.backend_per_host_remembered = lambda: None  # type: ignore[assignment]
        moto_speed.delete_in_one_pass = lambda: None  # type: ignore[assignment]
        moto_serialize.install_attribute_values = lambda: None  # type: ignore[assignment]
    from opsctl.sandbox.moto_main import main

    main(["-H", "127.0.0.1", "-p", str(port)])


def _start(variant: str) -> tuple[subprocess.Popen, str]:
    from opsctl.sandbox.server import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", variant, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).read()
            return proc, endpoint
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"the {variant} server did not start")


def _clients(endpoint: str) -> dict:
    import boto3

    kw = {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "sandbox",
        "aws_secret_access_key": "sandbox",
    }
    return {s: boto3.client(s, **kw) for s in ("dynamodb", "sqs", "kinesis")}


def _seed(c: dict, queue_depth: int) -> str:
    from moto_bench import batch_write, create_readings_table  # this script's folder is on sys.path

    ddb = c["dynamodb"]
    create_readings_table(ddb)
    metrics = ("temp_c", "humidity_pct", "battery_v", "rssi_dbm")
    items = [
        {
            "PutRequest": {
                "Item": {
                    "device_id": {"S": "dev-0001"},
                    "ts": {"N": str(1_700_000_000_000 + i * 1000)},
                    "expires_at": {"N": "2000000000"},
                    "metrics": {"M": {m: {"N": f"{i % 40}.{j}"} for j, m in enumerate(metrics)}},
                }
            }
        }
        for i in range(100)
    ]
    batch_write(ddb, items)
    url = c["sqs"].create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    for start in range(0, queue_depth, 10):
        c["sqs"].send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"device_id": "dev-0001", "hour_start": start + i})}
                for i in range(10)
            ],
        )
    c["kinesis"].create_stream(StreamName="readings", ShardCount=1)
    return url


def _round(c: dict, url: str, into: dict[str, list[float]]) -> None:
    t = time.perf_counter()
    c["dynamodb"].query(
        TableName="readings",
        KeyConditionExpression="device_id = :d",
        ExpressionAttributeValues={":d": {"S": "dev-0001"}},
    )
    into["query100"].append(time.perf_counter() - t)
    t = time.perf_counter()
    c["dynamodb"].get_item(TableName="readings", Key={"device_id": {"S": "dev-0001"}, "ts": {"N": "1700000005000"}})
    into["get_item"].append(time.perf_counter() - t)
    t = time.perf_counter()
    got = c["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    c["sqs"].delete_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
    )
    c["sqs"].send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(got)]
    )
    into["receive+delete10"].append(time.perf_counter() - t)
    t = time.perf_counter()
    c["kinesis"].put_records(
        StreamName="readings", Records=[{"Data": b'{"x":1}', "PartitionKey": f"d{i}"} for i in range(100)]
    )
    into["put_records100"].append(time.perf_counter() - t)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=("before", "after"))
    parser.add_argument("--port", type=int)
    parser.add_argument("--queue", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    sys.path.insert(0, str(ROOT))
    servers = {v: _start(v) for v in ("before", "after")}
    try:
        clients = {v: _clients(endpoint) for v, (_, endpoint) in servers.items()}
        urls = {v: _seed(c, args.queue) for v, c in clients.items()}
        times: dict[str, dict[str, list[float]]] = {v: {op: [] for op in OPS} for v in servers}
        for i in range(args.rounds):
            order = ("before", "after") if (i + i // 2) % 2 == 0 else ("after", "before")
            for v in order:
                _round(clients[v], urls[v], times[v])
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    for op in OPS:
        b, a = (statistics.median(times[v][op]) * 1000 for v in ("before", "after"))
        print(f"{op:18s} before {b:8.2f} ms  after {a:8.2f} ms  before/after {b / a:5.2f}  (medians of {args.rounds})")
    b, a = (statistics.median(sum(x) for x in zip(*times[v].values(), strict=True)) * 1000 for v in ("before", "after"))
    print(f"{'the mix':18s} before {b:8.2f} ms  after {a:8.2f} ms  before/after {b / a:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
