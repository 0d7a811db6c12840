"""Bench rows for the read API, in-process against a sandbox: our deployed handler vs tests/bench/naive_api.py
behind the same routes, on the same data, in the same run.

- handler latency p50/p99 per page of 100 and of 1000 readings (the function's duration as the local Lambda
  runtime measures it, events built by `opsctl sandbox api` from the routes Terraform created);
- DynamoDB requests per page (goal: 1) and KMS requests per page on a warm function (goal ≤ 0.01: ours derives
  its cursor subkey through KMS once per container and day, then signs and checks locally; the naive one signs
  nothing), counted on botocore's API calls. The p50 goal: within 5 % of the naive handler's (ratio ≥ 0.95)."""

from __future__ import annotations

import json
import statistics
import sys
import urllib.parse
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT, Path(__file__).resolve().parent):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

BENCH_DEVICE = "bench-api-0001"
BENCH_TENANT = "bench"  # the tenant of the bench device and of the bench's caller
HISTORY = 3_000  # readings of the bench device (moto answers a Query of 1,000 items in seconds: keep the run short)
OTHER_DEVICES, OTHER_READINGS = 4, 500  # readings of other devices sharing the table
WALKS = {100: 2, 1000: 4}  # page size -> walks per handler through the whole history (60 and 12 pages)


@contextmanager
def _counting_calls():
    """Counts every AWS API call made in this process as (service, operation)."""
    import botocore.client

    counts: Counter = Counter()
    real = botocore.client.BaseClient._make_api_call

    def counted(self, operation_name, api_params):
        counts[(self.meta.service_model.service_name, operation_name)] += 1
        return real(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = counted
    try:
        yield counts
    finally:
        botocore.client.BaseClient._make_api_call = real


def _seed(ddb, table: str, registry: str) -> None:
    items = [(BENCH_DEVICE, 1_700_000_000_000 + i * 1000) for i in range(HISTORY)]
    items += [
        (f"bench-api-other-{d}", 1_700_000_000_000 + i * 1000)
        for d in range(OTHER_DEVICES)
        for i in range(OTHER_READINGS)
    ]
    requests = [
        {
            "PutRequest": {
                "Item": {
                    "device_id": {"S": dev},
                    "ts": {"N": str(ts)},
                    "expires_at": {"N": str(ts // 1000 + 86400)},
                    "metrics": {
                        "M": {
                            "temp_c": {"N": str(20 + (ts // 1000) % 17 / 4)},
                            "humidity_pct": {"N": "41.5"},
                            "battery_v": {"N": "3.87"},
                            "rssi_dbm": {"N": str(-50 - (ts // 1000) % 40)},
                        }
                    },
                }
            }
        }
        for dev, ts in items
    ]
    for i in range(0, len(requests), 25):
        ddb.batch_write_item(RequestItems={table: requests[i : i + 25]})
    # The bench device belongs to the bench's tenant, as `opsctl devices register` writes it.
    ddb.put_item(
        TableName=registry,
        Item={
            "device_id": {"S": BENCH_DEVICE},
            "tenant": {"S": BENCH_TENANT},
            "status": {"S": "active"},
            "created_at": {"N": "1700000000000"},
            "thing_name": {"S": BENCH_DEVICE},
        },
    )


def _walk(
    local, limit: int, counts: Counter, max_pages: int | None = None
) -> tuple[list[float], list[int], list[int], int]:
    """Pages through the bench device's history; (durations ms, DynamoDB requests, KMS requests per page, items)."""
    route, params = local.match("GET", f"/devices/{BENCH_DEVICE}/readings")
    durations, ddb_calls, kms_calls, items, cursor = [], [], [], 0, None
    while True:
        query = urllib.parse.urlencode({"limit": limit, **({"cursor": cursor} if cursor else {})})
        event = local.event(
            route,
            params,
            "GET",
            f"/devices/{BENCH_DEVICE}/readings",
            query,
            [("user-agent", "bench")],
            b"",
            "127.0.0.1",
            "bench",
        )
        # What the JWT authorizer would hand over for a user of the device's tenant (the bench invokes behind it,
        # not through it): a tenant's caller, whose device routes check the registry (functions/api/tenancy.py).
        event["requestContext"]["authorizer"] = {
            "jwt": {"claims": {"sub": "bench-user", "cognito:groups": f"[tenant-{BENCH_TENANT}]"}, "scopes": None}
        }
        before = counts.copy()
        inv = local.runner.invoke(route.function, event)
        assert not inv.function_error and inv.result["statusCode"] == 200, (inv.error_message, inv.result)
        delta = counts - before
        durations.append(inv.duration_ms)
        ddb_calls.append(sum(n for (svc, _), n in delta.items() if svc == "dynamodb"))
        kms_calls.append(sum(n for (svc, _), n in delta.items() if svc == "kms"))
        body = json.loads(inv.result["body"])
        items += len(body["items"])
        cursor = body["next_cursor"]
        if not cursor or len(durations) == max_pages:
            return durations, ddb_calls, kms_calls, items


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run_api_bench(stack, state_dir: Path) -> list[dict]:
    from naive_api import handler as naive_handler

    from opsctl.sandbox import api_server

    _seed(stack.target.client("dynamodb"), stack.get("table_name"), stack.get("device_registry_table_name"))
    labels = ("ours", "naive")
    samples: dict[str, dict[int, dict[str, list]]] = {
        label: {limit: {"durations": [], "ddb": [], "kms": []} for limit in WALKS} for label in labels
    }
    with _counting_calls() as counts:
        locals_ = {
            label: api_server.load(stack.target, stack.get("api_id"), state_dir=state_dir, handler_overrides=overrides)
            for label, overrides in (("ours", None), ("naive", {stack.get("api_function_name"): naive_handler}))
        }
        try:
            for label in labels:
                _walk(locals_[label], 10, counts, max_pages=2)  # warm: clients, imports, a cursor (a warm instance)
            # Walks interleaved, ours then naive then naive then ours ..., so the machine's load drifting and the
            # sandbox's state touch both handlers alike (p50s compared within 5 % need it).
            for limit, walks in WALKS.items():
                for w in range(2 * walks):
                    label = labels[(w + w // 2) % 2]
                    d, q, k, items = _walk(locals_[label], limit, counts)
                    assert items == HISTORY, f"{label} returned {items} of {HISTORY} readings"
                    got = samples[label][limit]
                    got["durations"] += d
                    got["ddb"] += q
                    got["kms"] += k
        finally:
            for local in locals_.values():
                local.close()
    results = {
        label: {
            limit: {
                "p50": statistics.median(got["durations"]),
                "p99": _p(got["durations"], 0.99),
                "n": len(got["durations"]),
                "ddb": statistics.mean(got["ddb"]),
                "kms": statistics.mean(got["kms"]),
            }
            for limit, got in by_limit.items()
        }
        for label, by_limit in samples.items()
    }
    rows = []
    for limit in WALKS:
        ours, naive = results["ours"][limit], results["naive"][limit]
        for stat in ("p50", "p99"):
            rows.append(
                {
                    "metric": f"read API handler latency {stat}, pages of {limit} ({ours['n']} pages, in-process on "
                    "the sandbox)" + (" (goal: ratio ≥ 0.95)" if stat == "p50" else ""),
                    "unit": "ms",
                    "ours": ours[stat],
                    "naive": naive[stat],
                    "ratio": naive[stat] / ours[stat],
                }
            )
        rows.append(
            {
                "metric": f"read API DynamoDB requests per page of {limit}, a tenant's caller, warm (goal 1 Query; "
                "ours reads the device's registry entry once per container and TENANT_MEMO_SECONDS, "
                "functions/api/tenancy.py: a tenant reads only its own devices)",
                "unit": "requests",
                "ours": ours["ddb"],
                "naive": naive["ddb"],
                "ratio": naive["ddb"] / ours["ddb"],
            }
        )
        rows.append(
            {
                "metric": f"read API KMS requests per page of {limit}, warm (goal ≤ 0.01; naive signs nothing)",
                "unit": "requests",
                "ours": ours["kms"],
                "naive": naive["kms"],
                "ratio": None,
            }
        )
    return rows
