"""The rollup rows of `make bench` run the real worker against the bench's in-memory DynamoDB: that fake must keep
answering every call the worker makes (a worker change once broke `make bench` and nothing else), and the row must
keep showing what coalescing saves."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rollup_bench import _naive_rcu, _ours_rcu


def test_the_real_worker_runs_on_the_bench_fake_and_reads_less_than_the_naive_one_at_a_reading_each_6_s():
    # At one reading a minute each job's coalescing check costs more than it saves (the row shows that too).
    assert _ours_rcu(60) > 0
    ours, naive = _ours_rcu(600), _naive_rcu(600)
    assert ours < naive / 2, (ours, naive)
