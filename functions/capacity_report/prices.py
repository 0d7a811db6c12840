"""Prices, from one data file that an operator can replace: a price set (date, source, the services' prices) per
region under `regions`, and the `default_region` a stack elsewhere falls back to (with a warning). A file of one
region (`region`, `date`, `source` at the top, as before) still loads.

Default: prices.json next to this module. Override with the path in CAPACITY_PRICES_FILE (the function's
environment, and opsctl's `--prices` flag sets the same variable). `load(region=...)` picks the stack's region:
the report function passes its own (AWS_REGION), opsctl the stack's."""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_FILE = Path(__file__).with_name("prices.json")
ENV_VAR = "CAPACITY_PRICES_FILE"
HOURS_PER_MONTH = 730  # AWS's own convention in its price examples
MAX_PRICE_AGE_DAYS = 365  # prices older than this (days since the file's `date`) are flagged in every report
REQUIRED = {
    "dynamodb": (
        "on_demand_write_per_million_units",
        "on_demand_read_per_million_units",
        "provisioned_wcu_per_hour",
        "provisioned_rcu_per_hour",
    ),
    "kinesis": ("shard_per_hour", "put_payload_units_per_million"),
}


class PricesError(ValueError):
    """The prices file is missing, not JSON, or lacks a price."""


def _read(chosen: Path) -> dict:
    try:
        return json.loads(chosen.read_text())
    except FileNotFoundError:
        raise PricesError(f"prices file {chosen} does not exist") from None
    except (OSError, ValueError) as exc:
        raise PricesError(f"prices file {chosen} is not readable JSON: {exc}") from None


def _check(doc: dict, where: str) -> None:
    for key in ("region", "date", "source"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise PricesError(f"prices file {where} needs a {key!r} string")
    for section, names in REQUIRED.items():
        for name in names:
            value = (doc.get(section) or {}).get(name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise PricesError(f"prices file {where} needs a non-negative number at {section}.{name}")


def load(path: str | Path | None = None, region: str | None = None) -> dict:
    """The prices of `region` (default: the file's default_region): `path`, else $CAPACITY_PRICES_FILE, else
    the bundled prices.json. A region the file does not price gets the default region's, and `requested_region`
    says which was asked for (warnings() then says so in every report)."""
    chosen = Path(path or os.environ.get(ENV_VAR) or DEFAULT_FILE)
    raw = _read(chosen)
    if isinstance(raw.get("regions"), dict) and raw["regions"]:
        default = raw.get("default_region")
        if default not in raw["regions"]:
            raise PricesError(f"prices file {chosen} needs a 'default_region' that is one of its regions")
        for name, entry in raw["regions"].items():
            if not isinstance(entry, dict):
                raise PricesError(f"prices file {chosen} needs an object at regions.{name}")
            _check({"region": name, **entry}, f"{chosen} (regions.{name})")
        picked = region if region in raw["regions"] else default
        doc = {"currency": raw.get("currency", "USD"), "region": picked, **raw["regions"][picked]}
        doc["regions_priced"] = sorted(raw["regions"])
    else:
        doc = raw
        _check(doc, str(chosen))
        doc["regions_priced"] = [doc["region"]]
    if region and region != doc["region"]:
        doc["requested_region"] = region
    doc["file"] = chosen.name if chosen == DEFAULT_FILE else str(chosen)
    return doc


def unit_prices(prices: dict, dimension: str) -> tuple[float, float]:
    """(on-demand price per request unit, provisioned price per capacity-unit hour) for 'read' or 'write'."""
    d = prices["dynamodb"]
    if dimension == "write":
        return d["on_demand_write_per_million_units"] / 1e6, d["provisioned_wcu_per_hour"]
    return d["on_demand_read_per_million_units"] / 1e6, d["provisioned_rcu_per_hour"]


def break_even_utilization_pct(prices: dict, dimension: str) -> float:
    """Average utilisation (percent of provisioned capacity) above which provisioned costs less than on-demand.

    One capacity unit for an hour costs `per_hour` provisioned; fully used, it serves 3,600 request units,
    which cost 3,600 × `per_unit` on demand."""
    per_unit, per_hour = unit_prices(prices, dimension)
    return 100.0 * per_hour / (3600 * per_unit) if per_unit else 100.0


def on_demand_monthly(prices: dict, dimension: str, avg_units_per_s: float) -> float:
    """On-demand cost per month of an average load in request units per second."""
    per_unit, _ = unit_prices(prices, dimension)
    return avg_units_per_s * 3600 * HOURS_PER_MONTH * per_unit


def provisioned_monthly(prices: dict, dimension: str, capacity_units: float) -> float:
    """Provisioned cost per month of holding `capacity_units` for the whole month."""
    _, per_hour = unit_prices(prices, dimension)
    return capacity_units * HOURS_PER_MONTH * per_hour


def warnings(prices: dict, *, now, region: str | None, max_age_days: int = MAX_PRICE_AGE_DAYS) -> list[str]:
    """What the report must say about its own prices: older than `max_age_days` (days), or for another region
    than the stack's (every cost in the report is then that region's, not this one's)."""
    import datetime as dt

    out = []
    try:
        dated = dt.date.fromisoformat(prices["date"])
    except ValueError:
        return [f"prices file {prices.get('file')} has an unreadable date {prices['date']!r}; costs may be stale"]
    age_days = (now.date() - dated).days
    if age_days > max_age_days:
        out.append(
            f"prices are {age_days} days old ({prices['date']}, over {max_age_days}): costs may be wrong; "
            f"refresh {prices.get('file')} or point CAPACITY_PRICES_FILE at a current file"
        )
    if region and prices.get("region") and region != prices["region"]:
        priced = ", ".join(prices.get("regions_priced") or [prices["region"]])
        out.append(
            f"prices are for {prices['region']}, the stack is in {region}: costs are {prices['region']}'s "
            f"({prices.get('file')} prices {priced}); add {region} to it or point CAPACITY_PRICES_FILE at a "
            f"{region} price file"
        )
    unverified = prices.get("unverified") or []
    if unverified:
        out.append(
            f"{prices['region']} prices of {', '.join(unverified)} are unverified (not read from AWS's price pages; "
            f"see {prices.get('file')}): those costs are estimates"
        )
    return out
