"""The drill's claims against the monitor catalog: every catalog monitor is either exercised (with the runbook
command that brings it back) or listed as not exercised with its reason, never both, never neither."""

from __future__ import annotations

from opsctl.monitoring import thresholds
from opsctl.sandbox import drill

DEFAULT = {
    "ingest_iterator_age_warning",
    "ingest_poison_burst",
    "stream_write_throughput_exceeded",
    "table_write_throttles",
    "table_system_errors",
    "ingest_error_rate",
    "ingest_failure_queue_not_empty",
    "rollup_error_rate",
    "rollup_dlq_not_empty",
}
FULL_ONLY = {"ingest_iterator_age_critical", "stream_iterator_age"}


def test_every_catalog_monitor_is_exercised_or_has_a_reason():
    catalog = set(thresholds.monitors())
    assert catalog >= DEFAULT | FULL_ONLY
    assert set(drill.NOT_EXERCISED) == catalog - DEFAULT  # the --full ones say so in the default drill
    assert all(isinstance(why, str) and why for why in drill.NOT_EXERCISED.values())
    assert all("--full" in drill.NOT_EXERCISED[m] for m in FULL_ONLY)
    assert set(drill.BROUGHT_BACK_BY) == DEFAULT | FULL_ONLY
    assert all(cmd.startswith("opsctl ") for cmd in drill.BROUGHT_BACK_BY.values())


def test_the_default_drill_claims_its_monitors_and_full_adds_the_critical_iterator_age_ones():
    assert set(drill.exercised(full=False)) == DEFAULT
    assert set(drill.exercised(full=True)) == DEFAULT | FULL_ONLY
    assert len(drill.exercised(full=True)) == len(DEFAULT | FULL_ONLY)  # each claimed once


def test_full_says_how_long_it_takes_in_its_help_and_in_the_default_drills_output():
    from typer.testing import CliRunner

    from opsctl.cli.app import app

    minutes = f"~{drill.FULL_DRILL_MINUTES} minutes"
    help_text = " ".join(CliRunner().invoke(app, ["sandbox", "drill", "--help"], terminal_width=200).output.split())
    assert "--full" in help_text and minutes in help_text
    assert all(minutes in drill.NOT_EXERCISED[m] for m in FULL_ONLY)  # what the default drill prints for them


def test_crash_passes_follow_the_mappings_bisections_and_retries():
    # 100 → 50 → 25 → 12 → 6 → 3 → 1 (the first half of each split goes first): 6 splits, then 1 + 3 retries.
    assert drill.crash_passes(100, 3, bisect=True) == 10
    assert drill.crash_passes(100, 3, bisect=False) == 4
    assert drill.crash_passes(1, 0, bisect=True) == 1


def test_the_faults_fit_in_a_slow_minute_and_outlast_nothing():
    # Both windows end long before the next slow pass (a minute later), and within the fault store's bounds.
    from opsctl.sandbox import faults

    period = int(thresholds.monitors()[drill.MONITOR]["period_seconds"])
    for seconds in (drill.ERROR_FAULT_S, drill.THROTTLE_FAULT_S):
        faults.validate("dynamodb-error", "t", seconds)
        assert seconds < period / 2
    assert drill.HOT_DEVICE_BURST > 1000  # records per second a shard takes (opsctl/sandbox/limits.py)
