"""The alarm thresholds, defined once in `terraform/catalog/thresholds.json` and read by Terraform
(`jsondecode(file(...))`) and by opsctl, so a check on the command line and the alarm that pages
agree. Every key carries its unit in its name."""

from __future__ import annotations

import json
from functools import lru_cache

from opsctl.project import TERRAFORM_DIR

CATALOG = TERRAFORM_DIR / "catalog" / "thresholds.json"


@lru_cache(maxsize=1)
def thresholds() -> dict:
    return json.loads(CATALOG.read_text())


def iterator_age_ms() -> tuple[int, int]:
    """(warning, critical) iterator age in milliseconds."""
    t = thresholds()["ingest_iterator_age"]
    return int(t["warning_ms"]), int(t["critical_ms"])
