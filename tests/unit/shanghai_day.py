"""The hand-computed API test day: Asia/Shanghai (UTC+8), now = 2024-03-05 10:17:30 local,
30-minute intervals (shared by the API, quality and /metrics tests)."""

from datetime import datetime
from zoneinfo import ZoneInfo

from floorwatch.events import to_ms

TZ = ZoneInfo("Asia/Shanghai")


def local_ms(text: str) -> int:
    return to_ms(datetime.fromisoformat(text).replace(tzinfo=TZ))


NOW = local_ms("2024-03-05T10:17:30")
I_1000 = local_ms("2024-03-05T10:00:00")
I_0930 = local_ms("2024-03-05T09:30:00")
I_YESTERDAY = local_ms("2024-03-04T23:30:00")
HALF_HOUR = 30 * 60_000
RULES = {"sl_threshold_s": 20.0, "short_abandon_s": 5.0, "sl_target": 0.8, "sl_formula": "answered_over_offered"}
