"""The sustained-rate row of `make bench` (tests/bench/rate_bench.py) states a ratio only when both sides measured
what the row's name says: each stored its own readings, once, and rolled them up, starting on an idle pipeline."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rate_bench import baseline_problem, sustained_row


def _figures(sent=60_000, stored=60_000, rolled_up=60_000, *, cut=False, idle=True, per_s=500.0) -> dict:
    return {
        "sent": sent,
        "stored": stored,
        "rolled_up": rolled_up,
        "drain_cut": cut,
        "started_idle": idle,
        "readings_per_s": per_s,
    }


def _row(ours: dict, naive: dict) -> dict:
    return sustained_row({"ours": ours, "naive": naive}, rate=1000, duration=60, devices=100, drain_s=240)


def test_both_sides_complete_give_the_ratio_of_their_rates():
    row = _row(_figures(per_s=600.0), _figures(per_s=200.0))
    assert row["ratio"] == 3.0
    assert "NOT COMPARABLE" not in row["metric"]
    assert "ours 60000/60000 stored, 60000 rolled up;" in row["metric"]


def test_a_naive_side_that_stored_nothing_gives_no_ratio_and_says_so():
    row = _row(_figures(per_s=600.0), _figures(stored=0, rolled_up=0, cut=True, per_s=0.0))
    assert row["ratio"] is None
    assert row["metric"].endswith("NOT COMPARABLE: naive stored none of its 60000 readings")


def test_a_cut_catch_up_is_named_and_still_comparable():
    row = _row(_figures(stored=37_600, rolled_up=12_827, cut=True, per_s=200.0), _figures(per_s=100.0))
    assert row["ratio"] == 2.0
    assert "ours 37600/60000 stored, 12827 rolled up, catch-up cut at 240 s" in row["metric"]


def test_readings_missing_once_idle_and_a_busy_start_are_problems():
    assert baseline_problem(_figures(stored=59_999)) == (
        "went idle with 59999 of its 60000 readings stored and 60000 rolled up"
    )
    assert "idle pipeline" in (baseline_problem(_figures(idle=False)) or "")
    assert baseline_problem(_figures()) is None
    row = _row(_figures(), _figures(idle=False))
    assert row["ratio"] is None and "NOT COMPARABLE: naive did not start on an idle pipeline" in row["metric"]
