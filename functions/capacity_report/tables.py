"""DynamoDB capacity, per table and per global secondary index: consumed vs provisioned (peak and average),
throttles, auto scaling, today's decrease quota, cost on-demand vs provisioned, and a recommendation that
never plans more decreases than are left today."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from capacity_report import metrics
from capacity_report import prices as pricing
from capacity_report.quota import decreases_left

DIMENSIONS = ("read", "write")
DEFAULT_TARGET_UTILIZATION_PCT = 70.0  # the target native auto scaling defaults to; headroom for spikes
SWITCH_MIN_SAVING_PCT = 20.0  # switch billing mode only when it saves at least this share of the monthly cost
AUTOSCALING_MAX_OVER_PEAK = 1.5  # recommended auto scaling max = this × the capacity the peak needs
MAX_CAPACITY_UNITS = 40_000  # AWS default per-table quota (read or write)
SWITCH_TO_ON_DEMAND_PER_24H = 4  # AWS: provisioned → on-demand switches per rolling 24 h (the other way: any time)
_METRIC = {
    "read": ("ConsumedReadCapacityUnits", "ReadThrottleEvents"),
    "write": ("ConsumedWriteCapacityUnits", "WriteThrottleEvents"),
}
_SCALABLE = {
    ("table", "read"): "dynamodb:table:ReadCapacityUnits",
    ("table", "write"): "dynamodb:table:WriteCapacityUnits",
    ("index", "read"): "dynamodb:index:ReadCapacityUnits",
    ("index", "write"): "dynamodb:index:WriteCapacityUnits",
}


@dataclass
class Usage:
    """One dimension (read or write) of a table or index over the window, in capacity units per second."""

    provisioned: int | None
    peak_per_s: float
    avg_per_s: float
    throttled: float
    series: list[tuple[dt.datetime, float]] = field(default_factory=list)  # consumed units/s per minute
    autoscaling: dict | None = None  # {"min", "max", "target_pct"}


@dataclass
class Capacity:
    """A table or one of its GSIs, as DescribeTable and CloudWatch see it."""

    table: str
    index: str | None
    billing_mode: str
    usage: dict[str, Usage]
    decreases_today: int
    last_decrease: dt.datetime | None
    last_switch_to_on_demand: dt.datetime | None

    @property
    def name(self) -> str:
        return self.table if self.index is None else f"{self.table}/{self.index}"

    @property
    def resource_id(self) -> str:
        return f"table/{self.table}" if self.index is None else f"table/{self.table}/index/{self.index}"


def _autoscaling(aas, resource_ids: list[str]) -> tuple[dict, str | None]:
    """{(resource_id, dimension): {"min", "max", "target_pct"}} from Application Auto Scaling, or an empty map
    and a note when it has none or cannot be read (an environment without auto scaling, or no permission)."""
    found: dict = {}
    try:
        targets = aas.describe_scalable_targets(ServiceNamespace="dynamodb", ResourceIds=resource_ids).get(
            "ScalableTargets", []
        )
        policies = []
        for rid in resource_ids:
            policies += aas.describe_scaling_policies(ServiceNamespace="dynamodb", ResourceId=rid).get(
                "ScalingPolicies", []
            )
    except Exception as exc:  # noqa: BLE001 - auto scaling is optional: report why it is unknown, keep the rest
        return {}, f"auto scaling not read: {type(exc).__name__}: {exc}"
    targets_pct = {
        (p["ResourceId"], p["ScalableDimension"]): p.get("TargetTrackingScalingPolicyConfiguration", {}).get(
            "TargetValue"
        )
        for p in policies
        if p.get("PolicyType") == "TargetTrackingScaling"
    }
    for t in targets:
        key = (t["ResourceId"], t["ScalableDimension"])
        found[key] = {"min": t["MinCapacity"], "max": t["MaxCapacity"], "target_pct": targets_pct.get(key)}
    return found, None


def observe(
    dynamodb, aas, cloudwatch, table: str, start: dt.datetime, end: dt.datetime
) -> tuple[list[Capacity], list[str]]:
    """The table and each of its GSIs with their usage over [start, end]; plus notes on what could not be read."""
    desc = dynamodb.describe_table(TableName=table)["Table"]
    billing = desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    last_switch = desc.get("BillingModeSummary", {}).get("LastUpdateToPayPerRequestDateTime")
    parts = [(None, desc.get("ProvisionedThroughput", {}))]
    parts += [(g["IndexName"], g.get("ProvisionedThroughput", {})) for g in desc.get("GlobalSecondaryIndexes", [])]
    rids = [f"table/{table}" if ix is None else f"table/{table}/index/{ix}" for ix, _ in parts]
    scaling, note = _autoscaling(aas, rids) if billing == "PROVISIONED" else ({}, None)
    queries = []
    for i, (ix, _) in enumerate(parts):
        dims = (("TableName", table),) + ((("GlobalSecondaryIndexName", ix),) if ix else ())
        for d in DIMENSIONS:
            consumed, throttle = _METRIC[d]
            queries += [
                metrics.MetricQuery(f"c{i}_{d}", "AWS/DynamoDB", consumed, dims, "Sum"),
                metrics.MetricQuery(f"t{i}_{d}", "AWS/DynamoDB", throttle, dims, "Sum"),
            ]
    res = metrics.fetch(cloudwatch, queries, start, end)
    window_s = max(1.0, (end - start).total_seconds())
    out = []
    for i, (ix, pt) in enumerate(parts):
        usage = {}
        for d in DIMENSIONS:
            pts = res.points(f"c{i}_{d}")
            prov = (
                pt.get("ReadCapacityUnits" if d == "read" else "WriteCapacityUnits")
                if billing == "PROVISIONED"
                else None
            )
            kind = "table" if ix is None else "index"
            usage[d] = Usage(
                provisioned=int(prov) if prov is not None else None,
                peak_per_s=max((v for _, v in pts), default=0.0) / 60,
                avg_per_s=sum(v for _, v in pts) / window_s,
                throttled=res.total(f"t{i}_{d}") or 0.0,
                series=[(t, v / 60) for t, v in pts],
                autoscaling=scaling.get((rids[i], _SCALABLE[(kind, d)])),
            )
        out.append(
            Capacity(
                table=table,
                index=ix,
                billing_mode=billing,
                usage=usage,
                decreases_today=int(pt.get("NumberOfDecreasesToday") or 0),
                last_decrease=pt.get("LastDecreaseDateTime"),
                last_switch_to_on_demand=last_switch,
            )
        )
    return out, [note] if note else []


# --- recommending ----------------------------------------------------------------------------------------


def needed_capacity(u: Usage, target_pct: float) -> int:
    """Capacity units that carry the busiest minute at `target_pct` utilisation; after throttling, at least one
    step above what is provisioned (throttled load never shows in Consumed*, so the peak understates it)."""
    need = math.ceil(u.peak_per_s * 100.0 / target_pct - 1e-9)
    if u.throttled > 0 and u.provisioned:
        need = max(need, math.ceil(u.provisioned * 100.0 / target_pct - 1e-9))
    return min(MAX_CAPACITY_UNITS, max(1, need))


def recommend(cap: Capacity, prices: dict, now: dt.datetime, *, target_pct: float | None = None) -> dict:
    """The recommendation for one table or index: keep, switch billing mode, or new capacity / auto scaling values.

    Costs are per month (730 h) at the window's average load; `decreases` says how much of today's quota the plan
    uses."""
    quota = decreases_left(cap.decreases_today, cap.last_decrease, now)
    autoscaled = all(cap.usage[d].autoscaling for d in DIMENSIONS)
    dims: dict[str, dict] = {}
    for d in DIMENSIONS:
        u = cap.usage[d]
        target = target_pct or (u.autoscaling or {}).get("target_pct") or DEFAULT_TARGET_UTILIZATION_PCT
        need = needed_capacity(u, target)
        held = u.provisioned if u.provisioned is not None else need
        dims[d] = {
            "provisioned": u.provisioned,
            "peak_per_s": round(u.peak_per_s, 3),
            "avg_per_s": round(u.avg_per_s, 3),
            "throttled": u.throttled,
            "autoscaling": u.autoscaling,
            "target_utilization_pct": target,
            "peak_utilization_pct": round(100 * u.peak_per_s / u.provisioned, 1) if u.provisioned else None,
            "avg_utilization_pct": round(100 * u.avg_per_s / u.provisioned, 1) if u.provisioned else None,
            "needed": need,
            "break_even_utilization_pct": round(pricing.break_even_utilization_pct(prices, d), 1),
            "monthly_on_demand": round(pricing.on_demand_monthly(prices, d, u.avg_per_s), 4),
            "monthly_provisioned_current": round(pricing.provisioned_monthly(prices, d, held), 4)
            if u.provisioned is not None
            else None,
            "monthly_provisioned_needed": round(pricing.provisioned_monthly(prices, d, need), 4),
        }
    od = sum(x["monthly_on_demand"] for x in dims.values())
    prov = sum(x["monthly_provisioned_needed"] for x in dims.values())
    rec: dict = {
        "resource": cap.name,
        "table": cap.table,
        "index": cap.index,
        "billing_mode": cap.billing_mode,
        "autoscaled": autoscaled,
        "dimensions": dims,
        "decrease_quota": quota.to_dict(),
        "monthly_cost": {"on_demand": round(od, 4), "provisioned_at_needed": round(prov, 4)},
        "action": "keep",
        "changes": {},
        "decreases_planned": 0,
        "reasons": [],
        "warnings": [],
    }
    cheaper = lambda a, b: a < b * (1 - SWITCH_MIN_SAVING_PCT / 100.0)  # noqa: E731
    if cap.index is None and cap.billing_mode == "PAY_PER_REQUEST":
        if cheaper(prov, od):
            rec.update(
                action="switch_to_provisioned",
                changes={"billing_mode": "PROVISIONED", **{f"{d}_capacity": dims[d]["needed"] for d in DIMENSIONS}},
            )
            rec["reasons"].append(
                f"provisioned at {dims['read']['needed']} RCU / {dims['write']['needed']} WCU would cost "
                f"{prov:.2f} a month against {od:.2f} on demand (allowed any time)"
            )
        else:
            rec["reasons"].append(
                f"on demand costs {od:.2f} a month; provisioned for the peak would cost {prov:.2f}: keep on demand"
            )
        return rec
    if cap.billing_mode == "PAY_PER_REQUEST":  # an index of an on-demand table follows its table
        return rec
    if (
        cap.index is None
        and cheaper(od, sum(pricing.provisioned_monthly(prices, d, dims[d]["provisioned"]) for d in DIMENSIONS))
        and cheaper(od, prov)
    ):
        rec.update(action="switch_to_on_demand", changes={"billing_mode": "PAY_PER_REQUEST"})
        rec["reasons"].append(
            f"on demand would cost {od:.2f} a month against {prov:.2f} provisioned for the peak: average utilisation "
            f"is below the break-even {dims['write']['break_even_utilization_pct']}%"
        )
        allowed = "now"
        if cap.last_switch_to_on_demand is not None and now - cap.last_switch_to_on_demand < dt.timedelta(hours=24):
            allowed = (
                f"now unless {SWITCH_TO_ON_DEMAND_PER_24H} switches were made since "
                f"{(now - dt.timedelta(hours=24)).isoformat()} (the last at "
                f"{cap.last_switch_to_on_demand.isoformat()}); "
                f"certainly from {(cap.last_switch_to_on_demand + dt.timedelta(hours=24)).isoformat()}"
            )
        rec["switch_allowed"] = allowed
        return rec
    if autoscaled:
        return _recommend_autoscaling(rec, cap, dims, quota)
    return _recommend_fixed(rec, cap, dims, quota)


def _recommend_fixed(rec: dict, cap: Capacity, dims: dict, quota) -> dict:
    changes = {f"{d}_capacity": dims[d]["needed"] for d in DIMENSIONS if dims[d]["needed"] != dims[d]["provisioned"]}
    decreasing = [d for d in DIMENSIONS if dims[d]["needed"] < dims[d]["provisioned"]]
    if decreasing and quota.available_now < 1:
        # No decrease left now: plan only the increases, keep the rest, and say when a decrease is possible again.
        for d in decreasing:
            changes.pop(f"{d}_capacity", None)
        when = quota.next_at.isoformat() if quota.next_at else "tomorrow (UTC)"
        rec["warnings"].append(
            f"{cap.name}: lowering {' and '.join(decreasing)} capacity needs a decrease; none is left now "
            f"({quota.decreases_today} made today); next possible at {when}"
        )
        decreasing = []
    if decreasing:
        rec["decreases_planned"] = 1  # one UpdateTable lowers read and write together: one decrease
        if quota.left_today == 1:
            rec["warnings"].append(f"{cap.name}: this uses the last decrease DynamoDB allows today")
    if changes:
        rec.update(action="set_capacity", changes=changes)
        for d in DIMENSIONS:
            if f"{d}_capacity" in changes:
                x = dims[d]
                rec["reasons"].append(
                    f"{d}: peak {x['peak_per_s']:g}/s at {x['target_utilization_pct']:g}% target needs {x['needed']}"
                    f" (provisioned {x['provisioned']}"
                    + (f", {x['throttled']:g} throttled" if x["throttled"] else "")
                    + ")"
                )
    elif not rec["warnings"]:
        rec["reasons"].append("provisioned capacity fits the observed load")
    return rec


def _recommend_autoscaling(rec: dict, cap: Capacity, dims: dict, quota) -> dict:
    changes = {}
    for d in DIMENSIONS:
        x, a = dims[d], dims[d]["autoscaling"]
        target = x["target_utilization_pct"]
        new_min = max(1, math.ceil(x["avg_per_s"] * 100.0 / target - 1e-9))
        new_max = min(MAX_CAPACITY_UNITS, max(new_min, math.ceil(x["needed"] * AUTOSCALING_MAX_OVER_PEAK - 1e-9)))
        if (new_min, new_max) != (a["min"], a["max"]):
            changes[f"{d}_autoscaling"] = {"min": new_min, "max": new_max, "target_pct": target}
            rec["reasons"].append(
                f"{d}: auto scaling {a['min']}–{a['max']} → {new_min}–{new_max} at {target:g}% "
                f"(average {x['avg_per_s']:g}/s, peak {x['peak_per_s']:g}/s)"
            )
    lowers = [
        d
        for d in DIMENSIONS
        if f"{d}_autoscaling" in changes
        and dims[d]["provisioned"] is not None
        and changes[f"{d}_autoscaling"]["max"] < dims[d]["provisioned"]
    ]
    if lowers and quota.available_now < 1:
        for d in lowers:
            changes.pop(f"{d}_autoscaling")
        rec["warnings"].append(
            f"{cap.name}: a max below the current capacity forces a decrease and none is left now; kept"
        )
    elif lowers:
        rec["decreases_planned"] = 1
    if quota.left_today == 0:
        rec["warnings"].append(
            f"{cap.name}: no decrease left today: auto scaling cannot scale in before "
            f"{quota.next_at.isoformat() if quota.next_at else 'midnight UTC'}"
        )
    if changes:
        rec.update(action="set_autoscaling", changes=changes)
    elif not rec["reasons"]:
        rec["reasons"].append("auto scaling range fits the observed load")
    return rec
