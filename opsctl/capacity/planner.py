"""`opsctl capacity` and `opsctl report` bound to a stack: which resources, the report (built by
functions/capacity_report, the same code the scheduled function runs), applying its recommendations
through UpdateTable or Application Auto Scaling, and a plan for a known peak.

Applied values are written to the environment's Terraform variables (opsctl.core.tfvars, as `reshard` does), so
the next `terraform plan` agrees with what is live."""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field

from capacity_report import metrics, quota, tables
from capacity_report import prices as pricing
from capacity_report import report as reports
from capacity_report import stream as streams
from opsctl.core.errors import InvalidArgument, NotFound, OpsError

ACTIVE_WAIT_S = 300.0  # seconds to wait for a table to be ACTIVE again after UpdateTable


def scope(stack, table_names: list[str] | None, *, headroom: float, target_pct: float | None) -> reports.Scope:
    """The environment's tables (--table, else `table_name` and every `*_table_name` output), stream and queues
    (every `*_queue_url` and `*_dlq_url` output)."""
    out = stack.outputs
    names = list(table_names or []) or [
        v for k, v in sorted(out.items()) if (k == "table_name" or k.endswith("_table_name")) and v
    ]
    # Work queues, on-failure queues and DLQs (`*_queue_url`, `*_dlq_url`): the report shows each one's depth.
    queues = {k: v for k, v in sorted(out.items()) if (k.endswith("_queue_url") or k.endswith("_dlq_url")) and v}
    if not 0 < headroom <= 1:
        raise InvalidArgument(f"{{headroom}} must be in (0, 1], got {headroom}", arguments=["headroom"])
    if target_pct is not None and not 20 <= target_pct <= 90:
        raise InvalidArgument(
            f"{{target_pct}} must be from 20 to 90 (DynamoDB target tracking range), got {target_pct}",
            arguments=["target_pct"],
        )
    return reports.Scope(
        environment=stack.env,
        tables=names,
        stream=out.get("stream_name") or None,
        queues=queues,
        headroom=headroom,
        target_utilization_pct=target_pct,
    )


def load_prices(path: str | None, region: str | None = None) -> dict:
    """The prices of `region` (the stack's) from --prices, $CAPACITY_PRICES_FILE or the bundled file."""
    try:
        return pricing.load(path, region=region)
    except pricing.PricesError as exc:
        raise OpsError(
            str(exc),
            hint="point {prices} (or $CAPACITY_PRICES_FILE) at a JSON file like functions/capacity_report/prices.json",
            arguments=["prices"],
        ) from None


def build(stack, sc: reports.Scope, *, window: dt.timedelta, prices: dict, now: dt.datetime | None = None) -> dict:
    if window > metrics.MAX_WINDOW:
        raise InvalidArgument(
            f"{{window}} {window} is longer than 15 days",
            hint="CloudWatch keeps one-minute datapoints for 15 days",
            arguments=["window"],
        )
    for name in sc.tables:
        try:
            stack.target.client("dynamodb").describe_table(TableName=name)
        except stack.target.client("dynamodb").exceptions.ResourceNotFoundException:
            raise NotFound(
                "table", name, hint="check {table_names} or {env}", arguments=["table_names", "env"]
            ) from None
    return reports.build(
        stack.target.client,
        sc,
        window=window,
        now=now or dt.datetime.now(dt.UTC),
        prices=prices,
    )


# --- applying ------------------------------------------------------------------------------------------


@dataclass
class Change:
    resource: str
    table: str
    index: str | None
    action: str  # set_capacity, set_autoscaling, switch_to_on_demand, switch_to_provisioned
    changes: dict
    decreases: int
    tfvars: dict = field(default_factory=dict)  # Terraform variable -> value, for the environment's own table
    untracked: str | None = None  # why Terraform cannot record this change

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _declared_variables(env: str) -> set[str]:
    """Variable names the environment's root module declares (a plain scan: `variable "name"`)."""
    import re

    from opsctl.core import tf

    try:
        root = tf.env_dir(env)
    except OpsError:
        return set()
    return {m for p in root.glob("*.tf") for m in re.findall(r'^variable\s+"([A-Za-z0-9_]+)"', p.read_text(), re.M)}


def plan_changes(stack, report: dict) -> list[Change]:
    """What --apply would do, from the report's recommendations; only the env's `table_name` has Terraform variables."""
    own_table = stack.outputs.get("table_name")
    declared = _declared_variables(stack.env)
    plan = []
    for t in report["tables"]:
        if t["action"] == "keep" or not t["changes"]:
            continue
        c = Change(
            resource=t["resource"],
            table=t["table"],
            index=t["index"],
            action=t["action"],
            changes=dict(t["changes"]),
            decreases=t["decreases_planned"],
        )
        if t["table"] != own_table or t["index"] is not None:
            c.untracked = "no Terraform variable for this table or index in this project: record it where it is defined"
        else:
            wanted = {}
            ch = t["changes"]
            if "billing_mode" in ch:
                wanted["table_billing_mode"] = ch["billing_mode"]
            for d in tables.DIMENSIONS:
                if f"{d}_capacity" in ch:
                    wanted[f"table_{d}_capacity"] = ch[f"{d}_capacity"]
                if f"{d}_autoscaling" in ch:
                    a = ch[f"{d}_autoscaling"]
                    wanted[f"table_autoscaling_{d}"] = {
                        "min_capacity": a["min"],
                        "max_capacity": a["max"],
                        "target_utilization_percent": a["target_pct"],
                    }
            missing = sorted(k for k in wanted if k not in declared)
            if missing:
                c.untracked = f"terraform/envs/{stack.env} declares no {', '.join(missing)}: change it there by hand"
            c.tfvars = wanted
        plan.append(c)
    return plan


def explicit_change(
    stack,
    table: str | None,
    *,
    write: int | None,
    read: int | None,
    on_demand: bool,
    now: dt.datetime | None = None,
) -> Change:
    """What --apply does with a capacity given by hand instead of the recommendation: the environment's own
    table (the one with Terraform variables) PROVISIONED at `write` / `read` units (the other one kept, or 1 if
    the table was on demand), or switched to on demand. Refuses what AWS would refuse or that changes nothing."""
    own = stack.outputs.get("table_name")
    name = table or own
    if not name or name != own:
        raise InvalidArgument(
            f"only the environment's readings table ({own}) has Terraform variables for its capacity",
            hint="drop {table_names}, or change other tables where they are defined",
            arguments=["table_names"],
        )
    for units, arg in ((write, "write_capacity"), (read, "read_capacity")):
        if units is not None and not 1 <= units <= tables.MAX_CAPACITY_UNITS:
            raise InvalidArgument(
                f"{{{arg}}} {units} must be from 1 to {tables.MAX_CAPACITY_UNITS:,} units",
                hint="AWS's default per-table quota",
                arguments=[arg],
            )
    ddb = stack.target.client("dynamodb")
    try:
        desc = ddb.describe_table(TableName=name)["Table"]
    except ddb.exceptions.ResourceNotFoundException:
        raise NotFound("table", name, hint="check {env}", arguments=["env"]) from None
    mode = desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    cur = desc.get("ProvisionedThroughput", {})
    if on_demand:
        if mode == "PAY_PER_REQUEST":
            raise OpsError(f"table {name!r} is already on demand: nothing to change")
        return _tracked(
            stack,
            Change(
                name,
                name,
                None,
                "switch_to_on_demand",
                {"billing_mode": "PAY_PER_REQUEST"},
                0,
                tfvars={"table_billing_mode": "PAY_PER_REQUEST"},
            ),
        )
    wanted = {
        "read_capacity": read if read is not None else int(cur.get("ReadCapacityUnits") or 1),
        "write_capacity": write if write is not None else int(cur.get("WriteCapacityUnits") or 1),
    }
    if mode == "PAY_PER_REQUEST":
        # On demand to PROVISIONED: allowed any time (docs/aws-limits.md), and not a decrease.
        return _tracked(
            stack,
            Change(
                name,
                name,
                None,
                "switch_to_provisioned",
                {"billing_mode": "PROVISIONED", **wanted},
                0,
                tfvars={
                    "table_billing_mode": "PROVISIONED",
                    "table_read_capacity": wanted["read_capacity"],
                    "table_write_capacity": wanted["write_capacity"],
                },
            ),
        )
    held = {
        "read_capacity": int(cur.get("ReadCapacityUnits") or 0),
        "write_capacity": int(cur.get("WriteCapacityUnits") or 0),
    }
    changes = {k: v for k, v in wanted.items() if v != held[k]}
    if not changes:
        raise OpsError(f"table {name!r} already has {held['read_capacity']} RCU / {held['write_capacity']} WCU")
    decreases = 1 if any(v < held[k] for k, v in changes.items()) else 0  # one UpdateTable: one decrease
    if decreases:
        q = quota.decreases_left(
            cur.get("NumberOfDecreasesToday"), cur.get("LastDecreaseDateTime"), now or dt.datetime.now(dt.UTC)
        )
        if q.available_now < 1:
            when = q.next_at.isoformat() if q.next_at else "tomorrow (UTC)"
            raise OpsError(
                f"table {name!r}: no capacity decrease is left now ({q.decreases_today} made today)",
                hint=f"AWS allows the next one at {when}; an increase is always allowed",
            )
    return _tracked(
        stack,
        Change(
            name,
            name,
            None,
            "set_capacity",
            changes,
            decreases,
            tfvars={f"table_{k}": v for k, v in changes.items()},
        ),
    )


def _tracked(stack, c: Change) -> Change:
    """Flags a change whose Terraform variables the environment does not declare (as plan_changes does)."""
    missing = sorted(k for k in c.tfvars if k not in _declared_variables(stack.env))
    if missing:
        c.untracked = f"terraform/envs/{stack.env} declares no {', '.join(missing)}: change it there by hand"
    return c


def _wait_active(ddb, table: str, timeout_s: float = ACTIVE_WAIT_S) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        t = ddb.describe_table(TableName=table)["Table"]
        busy = t["TableStatus"] != "ACTIVE" or any(
            g.get("IndexStatus") not in (None, "ACTIVE") for g in t.get("GlobalSecondaryIndexes", [])
        )
        if not busy:
            return t
        if time.monotonic() > deadline:
            raise OpsError(
                f"table {table!r} still {t['TableStatus']} after {timeout_s:.0f} s",
                hint="run `opsctl capacity` again later",
            )
        time.sleep(2)


def _move_fixed_targets(aas, table: str, pt: dict) -> None:
    """A fixed capacity held by a scalable target with min = max (terraform/modules/telemetry_table) moves with the
    table: else the next RegisterScalableTarget (any apply) would put the old value back, and Terraform's plan of
    the recorded variables would not match the target."""
    found = aas.describe_scalable_targets(ServiceNamespace="dynamodb", ResourceIds=[f"table/{table}"]).get(
        "ScalableTargets", []
    )
    units = {
        "dynamodb:table:ReadCapacityUnits": "ReadCapacityUnits",
        "dynamodb:table:WriteCapacityUnits": "WriteCapacityUnits",
    }
    for t in found:
        unit = units.get(t["ScalableDimension"])
        if unit and t["MinCapacity"] == t["MaxCapacity"] != pt[unit]:
            aas.register_scalable_target(
                ServiceNamespace="dynamodb",
                ResourceId=f"table/{table}",
                ScalableDimension=t["ScalableDimension"],
                MinCapacity=pt[unit],
                MaxCapacity=pt[unit],
            )


def apply_change(stack, c: Change) -> dict:
    """Makes one change live (UpdateTable or Application Auto Scaling) and returns what DescribeTable shows after."""
    ddb, aas = stack.target.client("dynamodb"), stack.target.client("application-autoscaling")
    desc = _wait_active(ddb, c.table)
    if c.index is None:
        cur = desc.get("ProvisionedThroughput", {})
    else:
        cur = next(g for g in desc.get("GlobalSecondaryIndexes", []) if g["IndexName"] == c.index).get(
            "ProvisionedThroughput", {}
        )
    ch = c.changes
    if c.action in ("set_capacity", "switch_to_provisioned"):
        pt = {
            "ReadCapacityUnits": int(ch.get("read_capacity", cur.get("ReadCapacityUnits") or 1)),
            "WriteCapacityUnits": int(ch.get("write_capacity", cur.get("WriteCapacityUnits") or 1)),
        }
        if c.index is not None:
            ddb.update_table(
                TableName=c.table,
                GlobalSecondaryIndexUpdates=[{"Update": {"IndexName": c.index, "ProvisionedThroughput": pt}}],
            )
        elif c.action == "switch_to_provisioned":
            ddb.update_table(TableName=c.table, BillingMode="PROVISIONED", ProvisionedThroughput=pt)
        else:
            ddb.update_table(TableName=c.table, ProvisionedThroughput=pt)
        if c.index is None:
            _move_fixed_targets(aas, c.table, pt)
    elif c.action == "switch_to_on_demand":
        ddb.update_table(TableName=c.table, BillingMode="PAY_PER_REQUEST")
    elif c.action == "set_autoscaling":
        kind = "table" if c.index is None else "index"
        rid = f"table/{c.table}" if c.index is None else f"table/{c.table}/index/{c.index}"
        for d in tables.DIMENSIONS:
            a = ch.get(f"{d}_autoscaling")
            if a:
                aas.register_scalable_target(
                    ServiceNamespace="dynamodb",
                    ResourceId=rid,
                    ScalableDimension=tables._SCALABLE[(kind, d)],
                    MinCapacity=int(a["min"]),
                    MaxCapacity=int(a["max"]),
                )
    after = _wait_active(ddb, c.table)
    pt = (
        after.get("ProvisionedThroughput", {})
        if c.index is None
        else next(g for g in after.get("GlobalSecondaryIndexes", []) if g["IndexName"] == c.index).get(
            "ProvisionedThroughput", {}
        )
    )
    return {
        "resource": c.resource,
        "billing_mode": after.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        "read_capacity": pt.get("ReadCapacityUnits"),
        "write_capacity": pt.get("WriteCapacityUnits"),
    }


# --- preparing for a known peak ---------------------------------------------------------------------------


def parse_at(text: str, now: dt.datetime) -> dt.datetime:
    """An ISO 8601 time (UTC if no zone) or 'in 2h' / 'in 30m'; must be in the future."""
    from opsctl.core import metrics

    text = text.strip()
    if text.startswith("in "):
        when = now + metrics.parse_window(text[3:])
    else:
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidArgument(
                f"bad {{at}} {text!r}", hint="use an ISO time like 2026-12-24T18:00Z, or 'in 3h'", arguments=["at"]
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
    if when <= now:
        raise InvalidArgument(f"{{at}} {when.isoformat()} is not in the future", arguments=["at"])
    return when


def prepare_event(
    stack,
    report: dict,
    *,
    at: dt.datetime,
    expect_records_per_s: float,
    headroom: float,
    now: dt.datetime,
    prices: dict | None = None,
) -> dict:
    """Shards, table capacity (or warm throughput), Lambda concurrency for `expect_records_per_s` at `at`, as
    commands and Terraform values."""
    if expect_records_per_s <= 0:
        raise InvalidArgument(
            "{expect_records_per_s} must be a rate above 0 (records per second)", arguments=["expect_records_per_s"]
        )
    s = report.get("stream")
    avg_bytes = (s["bytes_in_window"] / s["records_in_window"]) if s and s["records_in_window"] else 1024.0
    shards, by_bytes, by_records = streams.recommend_shards(
        max_bytes_per_min=expect_records_per_s * avg_bytes * 60,
        max_records_per_min=expect_records_per_s * 60,
        headroom=headroom,
    )
    plan: dict = {
        "at": at.isoformat(),
        "expect_records_per_s": expect_records_per_s,
        "avg_record_bytes": round(avg_bytes, 1),
        "steps": [],
        "terraform": {},
        "warnings": [],
    }
    stream_name = stack.outputs.get("stream_name")
    if s:
        cur = s["open_shards"]
        if shards > cur:
            plan["steps"].append(
                {
                    "what": f"stream {stream_name}: {cur} → {shards} shards ({by_records} by records, {by_bytes} by "
                    f"bytes at {headroom:.0%})",
                    "command": f"opsctl --env {stack.env} reshard --to {shards} --yes",
                }
            )
            plan["terraform"]["ingest_shard_count"] = shards
        for f in (report.get("lambda") or {}).get("functions", []):
            need = shards * f["parallelization_factor"]
            limit = f["reserved"] if f["reserved"] is not None else f["account_unreserved"]
            plan["steps"].append(
                {
                    "what": f"{f['function_name']}: needs {need} concurrent executions ({shards} shards × "
                    f"{f['parallelization_factor']})" + (f"; reserved/available {limit}" if limit is not None else ""),
                    "command": None,
                }
            )
            if limit is not None and need > limit:
                plan["warnings"].append(
                    f"{f['function_name']} would need {need} concurrent executions, over {limit}: raise it before "
                    f"{at.isoformat()}"
                )
    for t in report["tables"]:
        if t["index"] is not None:
            continue
        w = t["dimensions"]["write"]
        per_record = (
            (w["avg_per_s"] / (s["records_in_window"] / report["window"]["seconds"]))
            if s and s["records_in_window"] and w["avg_per_s"]
            else 1.0
        )
        units = math.ceil(expect_records_per_s * max(per_record, 1.0) - 1e-9)
        target = w["target_utilization_pct"]
        if t["billing_mode"] == "PAY_PER_REQUEST":
            plan["steps"].append(
                {
                    "what": f"table {t['table']} (on demand): pre-warm to {units} write units/s so the first minutes "
                    "do not throttle",
                    "command": f"aws dynamodb update-table --table-name {t['table']} --warm-throughput "
                    f"WriteUnitsPerSecond={units}",
                }
            )
        else:
            need = min(tables.MAX_CAPACITY_UNITS, math.ceil(units * 100.0 / target - 1e-9))
            if w["autoscaling"]:
                plan["steps"].append(
                    {
                        "what": f"table {t['table']}: auto scaling min write {w['autoscaling']['min']} → {need} for "
                        "the event "
                        f"({units} WCU/s at {target:g}%)",
                        "command": None,
                    }
                )
                plan["terraform"]["table_autoscaling_write"] = {
                    "min_capacity": need,
                    "max_capacity": max(need, w["autoscaling"]["max"]),
                    "target_utilization_percent": target,
                }
            elif need > (w["provisioned"] or 0):
                plan["steps"].append(
                    {
                        "what": f"table {t['table']}: write capacity {w['provisioned']} → {need} ({units} WCU/s at "
                        f"{target:g}%)",
                        "command": f"aws dynamodb update-table --table-name {t['table']} --provisioned-throughput "
                        f"ReadCapacityUnits={t['dimensions']['read']['provisioned']},WriteCapacityUnits={need}",
                    }
                )
                plan["terraform"]["table_write_capacity"] = need
            q = quota.decreases_left(0, None, at + dt.timedelta(hours=3))
            plan["warnings"].append(
                f"lowering {t['table']} again after the event spends a decrease: DynamoDB allows "
                f"{quota.FREE_DECREASES_PER_DAY} a day plus one an hour (on a fresh day after the event: "
                f"{q.left_today})"
            )
    if at - now < dt.timedelta(minutes=30):
        plan["warnings"].append(
            "less than 30 minutes to the event: a reshard and capacity changes take minutes each; apply now"
        )
    if prices is not None:
        from botocore.exceptions import BotoCoreError, ClientError

        from opsctl.capacity import event_bill

        try:
            plan["cost"] = event_bill.bill(
                stack,
                report,
                rate_per_s=expect_records_per_s,
                shards=max(shards, (s or {}).get("open_shards") or 1),
                prices=prices,
            )
        except (ClientError, BotoCoreError) as exc:
            plan["warnings"].append(f"no cost estimate: {exc}")
    return plan
