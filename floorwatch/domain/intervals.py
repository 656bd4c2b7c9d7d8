"""Local-time interval bucketing: every time is epoch milliseconds, every zone explicit."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from floorwatch.events import from_ms, to_ms

MINUTE_MS = 60_000
DAY_MS = 86_400_000


def interval_start_ms(ts_ms: int, tz: ZoneInfo, interval_minutes: int) -> int:
    """Start of the local interval containing ``ts_ms`` (floor of local wall time)."""
    local = from_ms(ts_ms).astimezone(tz)
    floored = local.replace(minute=local.minute - local.minute % interval_minutes, second=0, microsecond=0)
    return to_ms(floored)


# Since 1973 every IANA zone's UTC offset is a whole number of minutes (Africa/Monrovia was the
# last at -0:44:30) and changes at whole UTC minutes, so all of a UTC minute is in one interval.
WHOLE_MINUTE_OFFSETS_FROM_MS = 94_694_400_000  # 1973-01-01T00:00Z


class IntervalStarts:
    """``interval_start_ms`` for one zone and interval length, remembered per UTC minute (the
    hot path buckets every event; a batch's events share a few minutes)."""

    def __init__(self, tz: ZoneInfo, interval_minutes: int, max_size: int = 4096) -> None:
        self.tz = tz
        self.interval_minutes = interval_minutes
        self.max_size = max_size
        self.by_minute: dict[int, int] = {}

    def __call__(self, ts_ms: int) -> int:
        if ts_ms < WHOLE_MINUTE_OFFSETS_FROM_MS:
            return interval_start_ms(ts_ms, self.tz, self.interval_minutes)
        minute = ts_ms // MINUTE_MS
        start = self.by_minute.get(minute)
        if start is None:
            if len(self.by_minute) >= self.max_size:
                self.by_minute.clear()
            start = self.by_minute[minute] = interval_start_ms(ts_ms, self.tz, self.interval_minutes)
        return start


def interval_end_ms(start_ms: int, tz: ZoneInfo, interval_minutes: int) -> int:  # noqa: ARG001 - same arguments as interval_start_ms
    """End (exclusive) of the interval starting at ``start_ms``."""
    return start_ms + interval_minutes * MINUTE_MS


def local_date(ts_ms: int, tz: ZoneInfo) -> date:
    return from_ms(ts_ms).astimezone(tz).date()


def day_bounds_ms(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """[local midnight, next local midnight) of ``day`` as epoch ms (23 or 25 h on DST days)."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return to_ms(start), to_ms(end)


def day_interval_starts(day: date, tz: ZoneInfo, interval_minutes: int) -> list[int]:
    """Every interval start of a local day (48 at 30 minutes on an ordinary day)."""
    lo, hi = day_bounds_ms(day, tz)
    step = interval_minutes * MINUTE_MS
    return list(range(lo, hi, step))


def iso(ts_ms: int, tz: ZoneInfo) -> str:
    """RFC 3339 local time with offset, seconds precision (ms when not whole)."""
    dt = from_ms(ts_ms).astimezone(tz)
    spec = "seconds" if ts_ms % 1000 == 0 else "milliseconds"
    return dt.isoformat(timespec=spec)
