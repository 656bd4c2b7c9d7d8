"""WAPE of offered and of AHT, by hand: which intervals count, the null cases, and periods that
add their intervals' parts."""

from __future__ import annotations

import random

from floorwatch.domain.forecast_accuracy import Accuracy, Wape, interval_accuracy

NOW = 10_000_000
ENDED = NOW - 1  # any end at or before now counts
RUNNING = NOW + 1


def part(
    end_ms: int = ENDED,
    actual: float = 0,
    forecast: float | None = None,
    handled: int = 0,
    handle_ms: int = 0,
    forecast_aht: float | None = None,
) -> Accuracy:
    return interval_accuracy(
        end_ms=end_ms,
        now_ms=NOW,
        actual_offered=actual,
        forecast_offered=forecast,
        handled=handled,
        handle_ms=handle_ms,
        forecast_aht_s=forecast_aht,
    )


def test_one_interval_by_hand() -> None:
    # 12 offered against 10 forecast; 2 handled in 400 s (AHT 200 s) against a forecast AHT of 180 s
    a = part(actual=12, forecast=10, handled=2, handle_ms=400_000, forecast_aht=180)
    assert a == Accuracy(Wape(2.0, 12.0), Wape(40.0, 400.0), 1, 1)  # H·|AHT − FAHT| = 2 × 20 = 40
    assert a.wape_offered == 2 / 12
    assert a.wape_aht == 0.1


def test_which_intervals_count() -> None:
    # not ended at now: nothing, whatever its figures
    assert part(end_ms=RUNNING, actual=4, forecast=8, handled=1, handle_ms=1000, forecast_aht=1) == Accuracy()
    # an end exactly at now has ended
    assert part(end_ms=NOW, actual=4, forecast=8).offered == Wape(4.0, 4.0)
    # no forecast: nothing (contacts alone are not an error of a forecast)
    assert part(actual=7, handled=7, handle_ms=700_000) == Accuracy()
    # forecast but nothing handled: offered counts, AHT does not
    assert part(actual=25, forecast=20, forecast_aht=200) == Accuracy(Wape(5.0, 25.0), Wape(), 1, 0)
    # handled but no forecast AHT (never from parse, but the readers allow None)
    assert part(actual=3, forecast=2, handled=3, handle_ms=300_000) == Accuracy(Wape(1.0, 3.0), Wape(), 1, 0)


def test_no_contacts_no_handled_give_null() -> None:
    # a forecast of 5 where nothing came: the error counts, but alone there is nothing to weigh it by
    empty = part(actual=0, forecast=5)
    assert empty.offered == Wape(5.0, 0.0) and empty.wape_offered is None and empty.wape_aht is None
    assert Accuracy().wape_offered is None and Accuracy().wape_aht is None
    assert Accuracy.total([]) == Accuracy()


def test_a_period_adds_its_intervals_then_divides() -> None:
    parts = [
        part(actual=12, forecast=10, handled=2, handle_ms=400_000, forecast_aht=180),  # 2/12, 40/400
        part(actual=25, forecast=20, forecast_aht=200),  # 5/25, no AHT
        part(end_ms=RUNNING, actual=4, forecast=8),  # running: out
        part(actual=7),  # no forecast: out
        part(actual=0, forecast=5),  # 5/0
        part(actual=30, forecast=36, handled=30, handle_ms=5_400_000, forecast_aht=150),  # 6/30, |5400 − 4500|/5400
    ]
    total = Accuracy.total(parts)
    assert total.offered == Wape(2 + 5 + 5 + 6, 12 + 25 + 0 + 30)
    assert total.wape_offered == 18 / 67
    assert total.aht == Wape(40 + 900, 400 + 5400)
    assert total.wape_aht == 940 / 5800
    assert (total.intervals, total.aht_intervals) == (4, 2)
    # not the average of the intervals' ratios: (2/12 + 5/25 + 6/30) / 3 = 0.1889 != 18/67 = 0.2687
    assert abs(total.wape_offered - (2 / 12 + 5 / 25 + 6 / 30) / 3) > 0.05
    # days then week = all intervals at once
    assert Accuracy.total([Accuracy.total(parts[:3]), Accuracy.total(parts[3:])]) == total


def test_sums_do_not_depend_on_the_order() -> None:
    rng = random.Random(7)
    parts = [
        part(actual=rng.randint(0, 50), forecast=rng.randint(0, 500) / 10, handled=1, handle_ms=1, forecast_aht=0.1)
        for _ in range(200)
    ]
    shuffled = parts[:]
    rng.shuffle(shuffled)
    assert Accuracy.total(parts) == Accuracy.total(shuffled)
