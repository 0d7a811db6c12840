"""DynamoDB's daily quota on provisioned-capacity decreases, for a table and for each GSI separately.

AWS (docs/aws-limits.md §DynamoDB): up to 4 decreases any time in a UTC day, plus 1 more whenever there was no decrease
in the previous hour: at most 27 a day. DescribeTable reports NumberOfDecreasesToday and
LastDecreaseDateTime. dynamic-dynamodb's users asked for exactly this awareness; native auto scaling
spends the same quota when it scales in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

FREE_DECREASES_PER_DAY = 4  # AWS: decreases allowed any time in a UTC day
HOURLY_EXTRA_AFTER = dt.timedelta(hours=1)  # AWS: one more decrease after an hour without any
MAX_DECREASES_PER_DAY = 27


@dataclass(frozen=True)
class DecreaseQuota:
    decreases_today: int
    available_now: int  # decreases that may be made back to back right now
    left_today: int  # the most decreases still possible before UTC midnight
    next_at: dt.datetime | None  # when the next decrease is allowed, if not now

    def to_dict(self) -> dict:
        return {
            "decreases_today": self.decreases_today,
            "available_now": self.available_now,
            "left_today": self.left_today,
            "next_decrease_at": self.next_at.isoformat() if self.next_at else None,
        }


def _hourly_slots(first: dt.datetime, midnight: dt.datetime) -> int:
    """Decreases at first, first+1h, first+2h, ... that fall before midnight."""
    if first >= midnight:
        return 0
    return 1 + int((midnight - first - dt.timedelta(microseconds=1)) // HOURLY_EXTRA_AFTER)


def decreases_left(decreases_today: int | None, last_decrease: dt.datetime | None, now: dt.datetime) -> DecreaseQuota:
    """What is left of today's decrease quota at `now` (UTC)."""
    n = max(0, int(decreases_today or 0))
    now = now.astimezone(dt.UTC)
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if last_decrease is not None:
        last_decrease = last_decrease.astimezone(dt.UTC)
        if last_decrease.date() != now.date():
            last_decrease = None  # a decrease of yesterday does not count against today
    if n < FREE_DECREASES_PER_DAY:
        burst = FREE_DECREASES_PER_DAY - n
        # After the burst, one more every hour: the first an hour after now (the burst's last decrease).
        return DecreaseQuota(n, burst, burst + _hourly_slots(now + HOURLY_EXTRA_AFTER, midnight), None)
    first = now if last_decrease is None else max(now, last_decrease + HOURLY_EXTRA_AFTER)
    left = min(_hourly_slots(first, midnight), max(0, MAX_DECREASES_PER_DAY - n))
    if left == 0:
        return DecreaseQuota(n, 0, 0, midnight)
    return DecreaseQuota(n, 1 if first == now else 0, left, None if first == now else first)
