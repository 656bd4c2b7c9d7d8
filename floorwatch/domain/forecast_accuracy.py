"""Forecast accuracy: the weighted absolute percentage error (WAPE) of the offered volume and of
the average handle time, per interval and summed over any set of intervals (docs/staffing.md,
"Forecast accuracy").

Over the intervals ``i`` that have a forecast and have ENDED at ``now`` (A actual offered, F
forecast offered, H handled, AHT the actual and FAHT the forecast average handle time):

* ``wape_offered`` = Σ |A_i − F_i| / Σ A_i; ``None`` when Σ A_i = 0;
* ``wape_aht`` = Σ H_i·|AHT_i − FAHT_i| / Σ H_i·AHT_i over those of them that also have a
  forecast AHT and H_i > 0; ``None`` when the denominator is 0. H·AHT is the interval's handle
  time (talk + hold + wrap-up), so the terms are taken from the summed milliseconds, not from a
  rounded AHT: H·|AHT − FAHT| = |handle_s − H·FAHT|.

Both are kept as (numerator, denominator) sums, so a day, a week or a month adds its intervals'
parts and divides once: never an average of daily ratios. Sums use ``math.fsum`` (correctly
rounded, whatever the order of the parts).

Pure: no clock (``now_ms`` is the caller's), no zone, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Wape:
    """Σ absolute errors and Σ actuals of one measure over some intervals."""

    numerator: float = 0.0
    denominator: float = 0.0

    @property
    def ratio(self) -> float | None:
        """numerator / denominator; ``None`` when the denominator is 0 (nothing to weigh)."""
        return None if self.denominator <= 0 else self.numerator / self.denominator


@dataclass(frozen=True, slots=True)
class Accuracy:
    """The two WAPEs' parts over some intervals, and how many ended intervals with a forecast
    they count (``intervals``; ``aht_intervals`` of them had a forecast AHT and a handled contact)."""

    offered: Wape = Wape()
    aht: Wape = Wape()
    intervals: int = 0
    aht_intervals: int = 0

    @classmethod
    def total(cls, parts: Iterable[Accuracy]) -> Accuracy:
        """The sum of ``parts``: numerators and denominators added (``math.fsum``), counts too."""
        items = list(parts)
        return cls(
            Wape(math.fsum(p.offered.numerator for p in items), math.fsum(p.offered.denominator for p in items)),
            Wape(math.fsum(p.aht.numerator for p in items), math.fsum(p.aht.denominator for p in items)),
            sum(p.intervals for p in items),
            sum(p.aht_intervals for p in items),
        )

    @property
    def wape_offered(self) -> float | None:
        return self.offered.ratio

    @property
    def wape_aht(self) -> float | None:
        return self.aht.ratio


NONE = Accuracy()


def interval_accuracy(
    *,
    end_ms: int,
    now_ms: int,
    actual_offered: float,
    forecast_offered: float | None,
    handled: int,
    handle_ms: int,
    forecast_aht_s: float | None,
) -> Accuracy:
    """One interval's parts: nothing when it has no forecast or has not ended at ``now_ms``
    (``end_ms > now_ms``); the AHT parts only with a forecast AHT and ``handled > 0``."""
    if forecast_offered is None or end_ms > now_ms:
        return NONE
    offered = Wape(abs(actual_offered - forecast_offered), float(actual_offered))
    if forecast_aht_s is None or handled <= 0:
        return Accuracy(offered, Wape(), 1, 0)
    handle_s = handle_ms / 1000
    return Accuracy(offered, Wape(abs(handle_s - handled * forecast_aht_s), handle_s), 1, 1)
