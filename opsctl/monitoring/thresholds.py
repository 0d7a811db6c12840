"""The monitor catalog, `terraform/catalog/monitors.json`: one definition per monitor, read by Terraform
(the CloudWatch alarms of terraform/modules/monitors and the Datadog monitors of terraform/datadog, both
`jsondecode(file(...))`) and by opsctl, so a check on the command line and the alarm that pages agree.
Every threshold key carries its unit in its name (`threshold_ms`, `threshold_seconds`, ...)."""

from __future__ import annotations

import json
from functools import lru_cache

from opsctl.core.project import TERRAFORM_DIR

CATALOG = TERRAFORM_DIR / "catalog" / "monitors.json"
# Threshold key suffix → the CloudWatch unit the alarm's threshold is expressed in.
THRESHOLD_UNITS = {"ms": "Milliseconds", "seconds": "Seconds", "count": "Count", "percent": "Percent"}


@lru_cache(maxsize=1)
def monitors() -> dict[str, dict]:
    """Every monitor of the catalog by id."""
    return json.loads(CATALOG.read_text())["monitors"]


def threshold(monitor: dict) -> tuple[float, str]:
    """(value, unit suffix) of a catalog entry's one `threshold_<unit>` key."""
    found = [(v, k.removeprefix("threshold_")) for k, v in monitor.items() if k.startswith("threshold_")]
    if len(found) != 1:
        raise ValueError(f"a monitor needs exactly one threshold_<unit> key, found {len(found)}")
    return found[0]


def iterator_age_ms() -> tuple[int, int]:
    """(warning, critical) ingest iterator age in milliseconds: the thresholds of the two iterator-age alarms."""
    m = monitors()
    values = []
    for key in ("ingest_iterator_age_warning", "ingest_iterator_age_critical"):
        value, unit = threshold(m[key])
        if unit != "ms":
            raise ValueError(f"{key}: the iterator-age thresholds must be in milliseconds (threshold_ms), not {unit}")
        values.append(int(value))
    return values[0], values[1]
