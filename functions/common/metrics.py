"""CloudWatch metrics in Embedded Metric Format: one JSON line on stdout, no API call."""

from __future__ import annotations

import json
import os
import sys
import time

DEFAULT_NAMESPACE = "TelemetryPipeline"  # opsctl.stream.iterator_age reads the same namespace
MAX_METRICS_PER_LINE = 100  # EMF limit per CloudWatchMetrics directive


def emit(
    values: dict[str, tuple[float, str]], *, function_name: str | None, namespace: str | None = None, **properties
) -> dict:
    """Writes `values` ({name: (value, unit)}) as one EMF line with the FunctionName dimension; returns the line."""
    if len(values) > MAX_METRICS_PER_LINE:
        raise ValueError(f"EMF takes at most {MAX_METRICS_PER_LINE} metrics per line, got {len(values)}")
    line = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace or os.environ.get("METRICS_NAMESPACE") or DEFAULT_NAMESPACE,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()],
                }
            ],
        },
        "FunctionName": function_name or "unknown",
        **properties,
        **{name: value for name, (value, _) in values.items()},
    }
    sys.stdout.write(json.dumps(line, default=str, separators=(",", ":")) + "\n")
    return line
