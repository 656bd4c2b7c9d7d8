"""/metrics forecast families: ``floorwatch_queue_forecast_offered_contacts{queue}`` (the current
interval's forecast) and ``floorwatch_queue_forecast_wape_ratio{queue,measure}`` (today so far),
from the view of tests/unit/api/test_staffing_forecast.py (now = 2024-03-05 10:17:30 local).

By hand: the current interval is 10:00, forecast 20 contacts. The only interval with a forecast
that has ended is 09:30: forecast 10 @ 180 s, actual 12 offered, 2 handled in 400 s, so WAPE
offered = |12 − 10| / 12 = 1/6 and WAPE AHT = |400 − 2 × 180| / 400 = 0.1. ``sales`` has no
forecast: no sample of either family.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from floorwatch.api.metrics import ViewCollector
from floorwatch.config import Settings
from floorwatch.readmodel.view import View
from tests.unit.api.test_metrics import samples
from tests.unit.api.test_staffing_forecast import LATER, floor_view, forecast, put_forecast, put_interval
from tests.unit.settings_factory import floor_settings
from tests.unit.shanghai_day import NOW, local_ms

OFFERED = "floorwatch_queue_forecast_offered_contacts"
WAPE = "floorwatch_queue_forecast_wape_ratio"


def settings(max_queues: int = 500) -> Settings:
    queues = [
        {"id": "support", "name": "Support", "channel": "voice", "sl_threshold_s": 20, "sl_target": 0.8},
        {"id": "sales", "name": "Sales", "channel": "chat", "sl_threshold_s": 20, "sl_target": 0.8},
    ]
    return floor_settings(queues=queues, api={"metrics_max_queues": max_queues})


class Scraper:
    def __init__(self, view: View, s: Settings) -> None:
        self.now = NOW
        self.registry = CollectorRegistry()
        self.registry.register(ViewCollector(view, s, lambda: self.now))

    def forecast_samples(self) -> dict[tuple[str, ...], float]:
        found = samples(generate_latest(self.registry).decode())
        return {
            (name, *(v for _, v in sorted(labels))): value
            for (name, labels), value in found.items()
            if name in (OFFERED, WAPE)
        }


def test_current_forecast_and_wape_today_by_hand() -> None:
    got = Scraper(floor_view(), settings()).forecast_samples()
    assert got == {
        (OFFERED, "support"): 20.0,
        (WAPE, "offered", "support"): 2 / 12,
        (WAPE, "aht", "support"): 0.1,
    }


def test_wape_follows_the_clock_late_partials_and_a_new_publication() -> None:
    view = floor_view()
    scraper = Scraper(view, settings())
    assert scraper.forecast_samples()[(WAPE, "offered", "support")] == 2 / 12
    # a late partial of the ended 09:30 interval: 3 more offered (15 against 10), 1 handled in 140 s
    put_interval(view, "support", "2024-03-05T09:30:00", 2, offered=3, handled=1, talk_ms=140_000)
    got = scraper.forecast_samples()
    assert got[(WAPE, "offered", "support")] == 5 / 15
    assert got[(WAPE, "aht", "support")] == abs(540 - 3 * 180) / 540 == 0.0
    # 10:30: the 10:00 interval has ended too (25 offered against 20, none handled: no AHT part);
    # the current one (10:30) has no forecast interval
    scraper.now = local_ms("2024-03-05T10:30:00")
    got = scraper.forecast_samples()
    assert got == {(WAPE, "offered", "support"): (5 + 5) / (15 + 25), (WAPE, "aht", "support"): 0.0}
    # a re-forecast of the day replaces the figures: 09:30 12, 10:00 25 -> no error at all
    newer = forecast("f-9", "2024-03-05T10:20:00", "support", [("09:30", 15, 180), ("10:00", 25, 200)])
    assert put_forecast(view, newer)
    assert scraper.forecast_samples()[(WAPE, "offered", "support")] == 0.0


def test_no_forecast_no_series_and_the_queue_cap() -> None:
    view = View()
    assert Scraper(view, settings()).forecast_samples() == {}
    # a forecast whose ended intervals had no contacts: WAPE 0/0 is omitted, the current one shows
    assert put_forecast(view, LATER)
    assert Scraper(view, settings()).forecast_samples() == {(OFFERED, "support"): 20.0}
    # the queue cap: support is kept (configured first); a cap of 1 leaves sales out, which has none
    capped = floor_view()
    assert put_forecast(capped, forecast("s-1", "2024-03-05T08:00:00", "sales", [("10:00", 7, 100)]))
    assert Scraper(capped, settings(max_queues=1)).forecast_samples() == {
        (OFFERED, "support"): 20.0,
        (WAPE, "offered", "support"): 2 / 12,
        (WAPE, "aht", "support"): 0.1,
    }
    assert (OFFERED, "sales") in Scraper(capped, settings()).forecast_samples()
