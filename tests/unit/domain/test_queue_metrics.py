"""The queue metric formulas on Counts built from hand-placed contributions (all times in ms)."""

from __future__ import annotations

import pytest

from floorwatch.domain.queue_metrics import (
    ABANDONED,
    ANSWERED,
    OVERFLOWED,
    SL_FORMULAS,
    WAITING,
    Contribution,
    Counts,
    QueueRules,
    occupancy,
    ratio,
    service_level,
    stats,
    with_outcome,
)
from tests.unit.contact_fields import NO_QUALITY_STATS

S = 1000  # ms per second


def answered(wait_s: float, t_s: float = 20, handled: tuple[float, float, float] | None = None) -> Contribution:
    wait = round(wait_s * S)
    if handled is None:
        return Contribution(0, ANSWERED, wait, within_sl=wait <= t_s * S)
    talk, hold, wrap = (round(x * S) for x in handled)
    return Contribution(
        0, ANSWERED, wait, within_sl=wait <= t_s * S, handled=True, talk_ms=talk, hold_ms=hold, wrap_ms=wrap
    )


def abandoned(wait_s: float, t_s: float = 20, short_s: float = 5) -> Contribution:
    wait = round(wait_s * S)
    return Contribution(0, ABANDONED, wait, short_abandon=wait < short_s * S, abandoned_within_sl=wait <= t_s * S)


def overflowed(wait_s: float) -> Contribution:
    return Contribution(0, OVERFLOWED, round(wait_s * S))


WAIT = Contribution(0, WAITING)


def hand_interval() -> list[Contribution]:
    """T = 20 s, short = 5 s.

    answered waits 0 5 10 15 20 20 20 | 21 30 60  -> A = 10, A_T = 7 (wait <= 20), sum 201 s
      three handled: (talk, hold, wrap) = (100, 0, 10), (200, 20, 0), (50, 10, 30) -> 420 s
    abandoned waits 2 | 10 | 40 100               -> B = 4, S = 1 (2 < 5), B_T = 2 (2, 10),
                                                     long-abandon waits 10 + 40 + 100 = 150 s
    overflowed waits 25 200                        -> F = 2
    still waiting: 2                               -> offered = 10 + 4 + 2 + 2 = 18
    N = A + (B - S) + F = 10 + 3 + 2 = 15
    """
    return [
        answered(0, handled=(100, 0, 10)),
        answered(5),
        answered(10, handled=(200, 20, 0)),
        answered(15),
        answered(20),
        answered(20),
        answered(20),
        answered(21, handled=(50, 10, 30)),
        answered(30),
        answered(60),
        abandoned(2),
        abandoned(10),
        abandoned(40),
        abandoned(100),
        overflowed(25),
        overflowed(200),
        WAIT,
        WAIT,
    ]


def test_counts_of_hand_interval() -> None:
    c = Counts.of(hand_interval())
    assert c == Counts(
        offered=18,
        waiting=2,
        answered=10,
        answered_within_sl=7,
        abandoned=4,
        short_abandoned=1,
        abandoned_within_sl=2,
        overflowed=2,
        handled=3,
        wait_answered_ms=201_000,
        wait_abandoned_ms=150_000,
        talk_ms=350_000,
        hold_ms=30_000,
        wrap_ms=40_000,
        max_wait_ms=200_000,
    )
    assert with_outcome(c) == 15


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("answered_over_offered", 7 / 15),  # A_T / N = 7 / 15
        ("answered_over_answered_and_late_abandons", 7 / 12),  # A_T / (A + B - B_T) = 7 / (10 + 4 - 2)
        ("answered_and_abandoned_within_over_offered", 8 / 15),  # (A_T + B_T - S) / N = (7 + 2 - 1) / 15
        ("answered_over_answered", 7 / 10),  # A_T / A = 7 / 10
    ],
)
def test_four_service_level_formulas_on_hand_interval(formula: str, expected: float) -> None:
    assert service_level(Counts.of(hand_interval()), formula) == pytest.approx(expected)


def test_formula_names_are_the_four_of_the_spec() -> None:
    assert SL_FORMULAS == (
        "answered_over_offered",
        "answered_over_answered_and_late_abandons",
        "answered_and_abandoned_within_over_offered",
        "answered_over_answered",
    )


def test_unknown_formula_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown service level formula"):
        service_level(Counts.of(hand_interval()), "answered_over_everything")


def test_stats_of_hand_interval() -> None:
    s = stats(Counts.of(hand_interval()), "answered_over_offered")
    assert s == {
        "offered": 18,
        "answered": 10,
        "answered_within_sl": 7,
        "abandoned": 4,
        "short_abandoned": 1,
        "overflowed": 2,
        "service_level": pytest.approx(7 / 15),
        "abandon_rate": pytest.approx(3 / 15),  # (B - S) / N
        "answer_rate": pytest.approx(10 / 15),  # A / N
        "asa_s": pytest.approx(20.1),  # 201 s / 10
        "aht_s": pytest.approx(140.0),  # (350 + 30 + 40) s / 3 handled
        "avg_abandon_s": pytest.approx(50.0),  # 150 s / (4 - 1)
        "max_wait_s": 200.0,  # the 200 s overflow
        "handled": 3,
        "transferred": 0,
        "transfer_rate": 0.0,  # 0 / 3 handled
        **NO_QUALITY_STATS,  # no surveys: CSAT ratios are None
    }
    assert set(s) == {
        "offered",
        "answered",
        "answered_within_sl",
        "abandoned",
        "short_abandoned",
        "overflowed",
        "service_level",
        "abandon_rate",
        "answer_rate",
        "asa_s",
        "aht_s",
        "avg_abandon_s",
        "max_wait_s",
        "handled",
        "transferred",
        "transfer_rate",
        "surveys",
        "csat_avg",
        "csat_satisfied",
        "fcr_eligible",
        "fcr_resolved",
        "fcr",
        "customer_contacts",
        "repeat_contacts",
        "repeat_rate",
    }


# --- zero denominators are None, never 0 or 1 ---------------------------------------------


def test_ratio() -> None:
    assert ratio(3, 4) == 0.75
    assert ratio(0, 4) == 0.0 and ratio(0, 4) is not None
    assert ratio(0, 0) is None
    assert ratio(5, 0) is None


RATIO_KEYS = ("service_level", "abandon_rate", "answer_rate", "asa_s", "aht_s", "avg_abandon_s")


@pytest.mark.parametrize("formula", SL_FORMULAS)
def test_empty_counts_every_ratio_is_none(formula: str) -> None:
    s = stats(Counts(), formula)
    for key in (*RATIO_KEYS, "max_wait_s"):
        assert s[key] is None, key
    assert s["offered"] == 0 and s["handled"] == 0


@pytest.mark.parametrize("formula", SL_FORMULAS)
def test_only_waiting_contacts_every_ratio_is_none(formula: str) -> None:
    s = stats(Counts.of([WAIT, WAIT, WAIT]), formula)
    assert s["offered"] == 3
    for key in (*RATIO_KEYS, "max_wait_s"):
        assert s[key] is None, key


@pytest.mark.parametrize("formula", SL_FORMULAS)
def test_only_short_abandons_n_is_zero(formula: str) -> None:
    # two abandons at 1 s and 4.999 s: both short (< 5 s), both within T=20 -> A=0 B=2 S=2 B_T=2
    # N = 0 + (2 - 2) + 0 = 0; A + B - B_T = 0; A = 0 -> every SL formula has a zero denominator
    c = Counts.of([abandoned(1), abandoned(4.999)])
    assert with_outcome(c) == 0
    s = stats(c, formula)
    for key in RATIO_KEYS:
        assert s[key] is None, key
    # short abandons still have an outcome, so max wait is known: 4.999 s
    assert s["max_wait_s"] == pytest.approx(4.999)
    assert s["short_abandoned"] == 2 and s["abandoned"] == 2 and s["offered"] == 2


def test_only_overflows_gives_real_zeros_and_nones() -> None:
    # F = 1, wait 30 s: N = 1 -> SL = 0/1 = 0.0, abandon 0/1, answer 0/1;
    # A = 0 -> ASA, A_T/A None; B - S = 0 -> avg abandon None; handled 0 -> AHT None
    c = Counts.of([overflowed(30)])
    s = stats(c, "answered_over_offered")
    assert s["service_level"] == 0.0
    assert s["abandon_rate"] == 0.0
    assert s["answer_rate"] == 0.0
    assert s["asa_s"] is None and s["aht_s"] is None and s["avg_abandon_s"] is None
    assert service_level(c, "answered_over_answered") is None  # A = 0
    # A + B - B_T = 0 + 0 - 0 = 0
    assert service_level(c, "answered_over_answered_and_late_abandons") is None
    assert service_level(c, "answered_and_abandoned_within_over_offered") == 0.0  # 0 / 1
    assert s["max_wait_s"] == 30.0


def test_answered_not_ended_asa_known_aht_none() -> None:
    # one answer at 12 s, conversation still going: ASA = 12, handled 0 -> AHT None
    s = stats(Counts.of([answered(12)]), "answered_over_offered")
    assert s["asa_s"] == 12.0
    assert s["aht_s"] is None
    assert s["service_level"] == 1.0  # 1/1
    assert s["abandon_rate"] == 0.0


def test_late_abandon_only_sl2_is_zero_not_none() -> None:
    # one abandon at 30 s (> T): A + B - B_T = 0 + 1 - 0 = 1 -> SL2 = 0/1 = 0
    c = Counts.of([abandoned(30)])
    assert service_level(c, "answered_over_answered_and_late_abandons") == 0.0
    assert service_level(c, "answered_over_answered") is None
    s = stats(c, "answered_over_offered")
    assert s["abandon_rate"] == 1.0  # (1 - 0) / 1
    assert s["avg_abandon_s"] == 30.0


def test_abandon_within_threshold_not_short_only_sl2_is_none() -> None:
    # one abandon at 10 s: not short, within T -> A + B - B_T = 0 + 1 - 1 = 0 -> SL2 None,
    # N = 1 -> SL1 = 0, SL3 = (0 + 1 - 0) / 1 = 1
    c = Counts.of([abandoned(10)])
    assert service_level(c, "answered_over_answered_and_late_abandons") is None
    assert service_level(c, "answered_over_offered") == 0.0
    assert service_level(c, "answered_and_abandoned_within_over_offered") == 1.0


# --- short abandons ------------------------------------------------------------------------


def test_short_abandons_out_of_n_and_avg_abandon_but_in_offered_and_b() -> None:
    # answered at 10 s; abandons at 2 s (short) and 30 s (long). N = 1 + (2 - 1) + 0 = 2
    c = Counts.of([answered(10), abandoned(2), abandoned(30)])
    s = stats(c, "answered_over_offered")
    assert s["offered"] == 3
    assert s["abandoned"] == 2 and s["short_abandoned"] == 1
    assert s["service_level"] == 0.5  # 1 / 2, not 1 / 3
    assert s["abandon_rate"] == 0.5  # 1 / 2
    assert s["avg_abandon_s"] == 30.0  # the 2 s short abandon is not averaged in
    assert s["max_wait_s"] == 30.0


def test_overflows_are_in_n() -> None:
    # 2 answered within T + 2 overflows: SL1 = 2 / 4
    c = Counts.of([answered(1), answered(2), overflowed(40), overflowed(50)])
    assert service_level(c, "answered_over_offered") == 0.5
    assert stats(c, "answered_over_offered")["answer_rate"] == 0.5


# --- Counts arithmetic ---------------------------------------------------------------------


def test_add_then_remove_returns_to_zero_except_max() -> None:
    c = Counts()
    items = hand_interval()
    for x in items:
        c.add(x)
    for x in items:
        c.add(x, -1)
    # every counter back to 0; max wait only grows (the aggregator recomputes it)
    assert c == Counts(max_wait_ms=200_000)


def test_merge_sums_counters_and_takes_max() -> None:
    items = hand_interval()
    left, right = Counts.of(items[:9]), Counts.of(items[9:])
    # first 9 are answered waits 0..30 (max 30 s); the rest include the 200 s overflow
    assert left.max_wait_ms == 30_000
    left.merge(right)
    assert left == Counts.of(items)
    empty = Counts()
    empty.merge(Counts())
    assert empty.max_wait_ms is None


def test_merge_into_empty_keeps_other_max() -> None:
    a = Counts()
    a.merge(Counts.of([answered(7)]))
    assert a.max_wait_ms == 7000 and a.answered == 1


def test_as_dict_from_dict_roundtrip_ignores_unknown_keys() -> None:
    c = Counts.of(hand_interval())
    d = c.as_dict()
    assert d["offered"] == 18 and d["max_wait_ms"] == 200_000
    assert Counts.from_dict({**d, "future_field": 1}) == c


def test_queue_rules_seconds_roundtrip() -> None:
    r = QueueRules.from_seconds(20, 5, 0.8, "answered_over_answered")
    assert r == QueueRules(20_000, 5_000, 0.8, "answered_over_answered")
    assert r.as_dict() == {
        "sl_threshold_s": 20.0,
        "short_abandon_s": 5.0,
        "sl_target": 0.8,
        "sl_formula": "answered_over_answered",
    }
    assert QueueRules.from_seconds(0.5, 2.25, 0.9, "answered_over_offered").sl_threshold_ms == 500
    assert QueueRules() == QueueRules(20_000, 5_000, 0.8, "answered_over_offered")


# --- occupancy -----------------------------------------------------------------------------


def test_occupancy() -> None:
    # 1200 s on contact + 600 s wrap = 1800 busy, 600 available -> 1800 / 2400 = 0.75
    assert occupancy(1800, 600) == 0.75
    assert occupancy(0, 600) == 0.0
    assert occupancy(600, 0) == 1.0
    assert occupancy(0, 0) is None


# --- CSAT: surveys are summable counts; ratios only after summing ------------------------------


def surveyed(c: Contribution, score: int) -> Contribution:
    return Contribution(**{**{f: getattr(c, f) for f in Contribution.__slots__}, "survey_score": score})


def test_csat_by_hand() -> None:
    # scores 5, 4, 3, 1 on an answered, an abandoned, a waiting and an overflowed contact
    # (a survey counts whatever the outcome); one answered contact without a survey
    c = Counts.of(
        [
            surveyed(answered(3), 5),
            surveyed(abandoned(40), 4),
            surveyed(WAIT, 3),
            surveyed(overflowed(30), 1),
            answered(4),
        ]
    )
    assert (c.surveys, c.score_sum, c.satisfied) == (4, 13, 2)
    s = stats(c, "answered_over_offered")
    assert s["surveys"] == 4
    assert s["csat_avg"] == 13 / 4  # 3.25
    assert s["csat_satisfied"] == 0.5  # 2 of 4 scored 4 or 5
    # the other figures do not see the surveys
    assert s["offered"] == 5 and s["answered"] == 2 and s["abandoned"] == 1 and s["overflowed"] == 1


def test_csat_is_none_without_surveys_and_zero_is_a_real_zero() -> None:
    s = stats(Counts.of([answered(3), abandoned(40)]), "answered_over_offered")
    assert s["surveys"] == 0 and s["csat_avg"] is None and s["csat_satisfied"] is None
    s = stats(Counts.of([surveyed(answered(3), 1), surveyed(answered(3), 3)]), "answered_over_offered")
    assert s["csat_avg"] == 2.0 and s["csat_satisfied"] == 0.0


def test_csat_partials_sum_and_remove_exactly() -> None:
    a = Counts.of([surveyed(answered(3), 5), surveyed(answered(30), 2)])
    b = Counts.of([surveyed(abandoned(10), 4)])
    total = Counts()
    total.merge(a)
    total.merge(b)
    assert (total.surveys, total.score_sum, total.satisfied) == (3, 11, 2)
    assert stats(total, "answered_over_offered")["csat_avg"] == 11 / 3
    # a contribution removed (its facts changed) takes its survey with it
    total.add(surveyed(answered(30), 2), -1)
    assert (total.surveys, total.score_sum, total.satisfied) == (2, 9, 2)
    assert Counts.from_dict(total.as_dict()) == total
    # partials written before CSAT existed have no survey fields: they read as zero
    old = {k: v for k, v in a.as_dict().items() if k not in ("surveys", "score_sum", "satisfied")}
    assert Counts.from_dict(old).surveys == 0


def test_counts_as_dict_equals_dataclasses_asdict() -> None:
    # as_dict is hand-written for speed; it must stay what dataclasses.asdict gives, key order too
    from dataclasses import asdict

    c = Counts(offered=7, answered=5, max_wait_ms=12_000, fcr_resolved=2, wait_answered_ms=3)
    assert c.as_dict() == asdict(c)
    assert list(c.as_dict()) == list(asdict(c))
