"""The read API's response-size arithmetic: the escaped body length it computes is the length Lambda sees, and
a page that fits is found without serializing each item on its own."""

from __future__ import annotations

import json

import pytest

from api import http

AWKWARD = [
    {"ts": 1, "metrics": {"temp_c": 21.5}},
    'a "quoted" \\ back\\slash',
    "tab\tnew\nline\x00nul\x1f",
    "ünïcødé ✓ 𝄞 and \u2028 separators",
    ["nested", {"k": ['"', "\\", '\\"']}],
    12345678901234567890,
    -0.125,
    None,
    True,
]


@pytest.mark.parametrize("value", [*AWKWARD, AWKWARD], ids=range(len(AWKWARD) + 1))
def test_the_encoded_length_is_the_bodys_length_escaped_once_more(value):
    body = json.dumps(value, separators=(",", ":"), allow_nan=False)
    assert http._encoded_len(value) == len(json.dumps(body)) - 2


def _one_by_one(items: list, envelope: dict, budget: int) -> int:
    """The per-item count, as the slow path does it for every page."""
    used = http._encoded_len(envelope) + http.CURSOR_ALLOWANCE_BYTES + 512
    for n, item in enumerate(items):
        used += http._encoded_len(item) + 1
        if used > budget and n > 0:
            return n
    return len(items)


@pytest.mark.parametrize("budget", [1, 2_000, 5_000, 9_000, 50_000, http.MAX_RESPONSE_BYTES])
def test_a_page_that_fits_whole_is_found_in_one_pass_and_a_page_that_does_not_is_cut_where_it_was(budget):
    items = [{"ts": 1_700_000_000_000 + i, "metrics": {"note": 'say "hi" \\ ' * (i % 7)}} for i in range(80)]
    envelope = {"device_id": "dev-1", "items": []}
    got = http.items_that_fit(items, envelope, budget=budget)
    assert got == _one_by_one(items, envelope, budget)
    assert got >= 1
    if budget == http.MAX_RESPONSE_BYTES:
        assert got == len(items)
    if budget in (5_000, 9_000):
        assert 1 < got < len(items)  # a real cut, so the comparison above is not only "all fit"
