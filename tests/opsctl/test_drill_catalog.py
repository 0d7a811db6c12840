"""The drill's claims against the monitor catalog: every catalog monitor is either exercised (with the runbook
command that brings it back) or listed as not exercised with its reason, never both, never neither."""

from __future__ import annotations

from opsctl.monitoring import thresholds
from opsctl.sandbox import drill

DEFAULT = {
    drill.MONITOR,
    drill.POISON_MONITOR,
    drill.WRITE_THROTTLE_MONITOR,
    drill.TABLE_THROTTLE_MONITOR,
    drill.TABLE_ERRORS_MONITOR,
}
FULL_ONLY = {drill.CRITICAL_MONITOR, drill.STREAM_AGE_MONITOR}


def test_every_catalog_monitor_is_exercised_or_has_a_reason():
    catalog = set(thresholds.monitors())
    assert catalog >= DEFAULT | FULL_ONLY
    assert set(drill.NOT_EXERCISED) == catalog - DEFAULT  # the --full ones say so in the default drill
    assert all(isinstance(why, str) and why for why in drill.NOT_EXERCISED.values())
    assert all("--full" in drill.NOT_EXERCISED[m] for m in FULL_ONLY)
    assert set(drill.BROUGHT_BACK_BY) == DEFAULT | FULL_ONLY
    assert all(cmd.startswith("opsctl ") for cmd in drill.BROUGHT_BACK_BY.values())


def test_the_faults_fit_in_a_slow_minute_and_outlast_nothing():
    # Both windows end long before the next slow pass (a minute later), and within the fault store's bounds.
    from opsctl.sandbox import faults

    period = int(thresholds.monitors()[drill.MONITOR]["period_seconds"])
    for seconds in (drill.ERROR_FAULT_S, drill.THROTTLE_FAULT_S):
        faults.validate("dynamodb-error", "t", seconds)
        assert seconds < period / 2
    assert drill.HOT_DEVICE_BURST > 1000  # records per second a shard takes (opsctl/sandbox/limits.py)


def test_the_drill_reads_a_minute_after_the_server_has_published_it():
    from opsctl.sandbox import cw_metrics

    assert cw_metrics.FLUSH_INTERVAL_S < drill.METRICS_PUBLISHED_S < cw_metrics.MINUTE_S / 4
