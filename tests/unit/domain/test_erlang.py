"""Staffing maths (``floorwatch.domain.erlang``) and ``floorwatch erlang``.

Evidence, from the strongest to the broadest:

1. a published worked example (Call Centre Helper, "Erlang C formula - made simple"), to the
   precision it is quoted with;
2. exact rational arithmetic (fractions + the textbook factorial formula) for small N, and an
   independent log-space (lgamma) evaluation for 2,000 Erlangs;
3. Erlang A against the Markov chain itself (stationary distribution of the birth-death
   chain, Little's law, and the tagged contact's absorbing chain solved by uniformization);
4. seeded discrete-event simulations (M/M/N and M/M/N+M, FCFS) within 4 standard errors;
5. properties (hypothesis): service level rises with agents, required agents is the minimum.
"""

from __future__ import annotations

import argparse
import heapq
import io
import itertools
import json
import math
import random
import statistics
from contextlib import redirect_stderr, redirect_stdout
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from benchmarks.erlang import old_required
from floorwatch.domain import erlang
from floorwatch.domain.erlang import (
    agents_for_occupancy,
    erlang_a_metrics,
    erlang_b,
    erlang_c,
    erlang_c_asa,
    erlang_c_metrics,
    erlang_c_service_level,
    occupancy,
    required_agents,
    scheduled_agents,
    staffing_plan,
    traffic_intensity,
)

# --------------------------------------------------------------------------- references


def exact_erlang_c(n: int, a: Fraction) -> Fraction:
    """Textbook formula, exact: (A^N/N! · N/(N-A)) / (sum_{k<N} A^k/k! + A^N/N! · N/(N-A))."""
    top = a**n / math.factorial(n) * Fraction(n) / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


def log_space_erlang_c(n: int, a: float) -> float:
    """Independent evaluation for large N: log(A^k/k!) = k·log A - lgamma(k+1), log-sum-exp."""
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(n)]
    log_top = n * math.log(a) - math.lgamma(n + 1) + math.log(n / (n - a))
    peak = max(max(logs), log_top)
    below = sum(math.exp(x - peak) for x in logs)
    top = math.exp(log_top - peak)
    return top / (below + top)


def markov_erlang_a(n: int, a: float, aht: float, t: float, patience: float, jmax: int = 400) -> dict:
    """M/M/N+M from its Markov chain, without the closed forms under test.

    Stationary distribution of the birth-death chain truncated at N + jmax (arrivals see it,
    PASTA); P(abandon) = theta·E[queue] / lambda (Little); the tagged contact's position in
    queue is an absorbing chain (move up at N·mu + (m-1)·theta, abandon at theta): P(answered
    within T) by uniformization, E[wait; answered] by first-step analysis.
    """
    mu, th = 1.0 / aht, 1.0 / patience
    lam = a * mu
    p = [1.0]
    for k in range(1, n + jmax + 1):
        death = k * mu if k <= n else n * mu + (k - n) * th
        p.append(p[-1] * lam / death)
    z = sum(p)
    p = [v / z for v in p]
    p_wait = sum(p[n:])
    queue = sum(j * p[n + j] for j in range(jmax + 1))
    p_ab = th * queue / lam
    busy = sum(min(k, n) * pk for k, pk in enumerate(p))

    m_max = jmax + 1
    start = [0.0] + [p[n + m - 1] for m in range(1, m_max + 1)]  # position m = j + 1
    # first-step analysis: h = P(answered | m), g = E[wait · 1{answered} | m]
    h, g = [1.0], [0.0]
    for m in range(1, m_max + 1):
        up, out = n * mu + (m - 1) * th, n * mu + m * th
        h.append(up / out * h[m - 1])
        g.append(h[m] / out + up / out * g[m - 1])
    e_wait_answered = sum(start[m] * g[m] for m in range(1, m_max + 1))

    big = n * mu + m_max * th  # uniformization rate
    lt = big * t
    v = start[:]
    served, total = 0.0, 0.0
    for k in range(int(lt + 12 * math.sqrt(lt) + 30)):
        weight = math.exp(-lt + k * math.log(lt) - math.lgamma(k + 1)) if lt > 0 else float(k == 0)
        total += weight * served  # served within k jumps
        nxt = [0.0] * (m_max + 2)
        served += v[1] * (n * mu) / big
        for m in range(1, m_max + 1):
            leave = n * mu + m * th
            nxt[m] += v[m] * (1.0 - leave / big)
            if m > 1:
                nxt[m - 1] += v[m] * (n * mu + (m - 1) * th) / big
        v = nxt
    sl = (1.0 - p_wait) + total
    return {
        "p_wait": p_wait,
        "abandon_rate": p_ab,
        "service_level": sl,
        "asa_s": e_wait_answered / (1.0 - p_ab),
        "occupancy": busy / n,
    }


def simulate(
    n: int,
    a: float,
    aht: float,
    t: float,
    calls: int,
    seed: int,
    patience: float | None = None,
    warmup: int = 2_000,
    batches: int = 25,
) -> dict:
    """Seeded FCFS M/M/N(+M) simulation: each arrival takes the earliest-free agent (heap of
    free times); with patience it abandons when that wait exceeds its exponential patience
    (abandoners never hold an agent, so the heap stays exact). Returns, per figure, the
    estimate and its standard error by batch means: waits of successive contacts are
    correlated, so the binomial error sqrt(p(1-p)/n) would understate it several times."""
    rng = random.Random(seed)
    lam = a / aht
    free = [0.0] * n
    now = 0.0
    answered_flag: list[bool] = []
    waits: list[float] = []
    for _ in range(calls + warmup):
        now += rng.expovariate(lam)
        limit = rng.expovariate(1.0 / patience) if patience is not None else math.inf
        begin = max(now, free[0])
        wait = begin - now
        if wait <= limit:
            heapq.heapreplace(free, begin + rng.expovariate(1.0 / aht))
            answered_flag.append(True)
            waits.append(wait)
        else:
            answered_flag.append(False)
            waits.append(limit)
    answered_flag, waits = answered_flag[warmup:], waits[warmup:]

    def figures(lo: int, hi: int) -> dict:
        ans = [w for s, w in zip(answered_flag[lo:hi], waits[lo:hi], strict=True) if s]
        size = hi - lo
        return {
            "p_wait": sum(1 for s, w in zip(answered_flag[lo:hi], waits[lo:hi], strict=True) if not s or w > 0) / size,
            "service_level": sum(1 for w in ans if w <= t) / size,
            "abandon_rate": (size - len(ans)) / size,
            "asa_s": sum(ans) / len(ans),
        }

    size = calls // batches
    per_batch = [figures(k * size, (k + 1) * size) for k in range(batches)]
    whole = figures(0, calls)
    return {key: (whole[key], statistics.stdev(b[key] for b in per_batch) / math.sqrt(batches)) for key in whole}


# --------------------------------------------------------------------------- published example


def test_call_centre_helper_worked_example():
    """100 calls in 30 min, AHT 180 s, 80 % in 20 s, max occupancy 85 %, shrinkage 30 %:
    A = 10 Erlangs; with 11 agents P(wait) = 68.21 %, service level 39.0 %, ASA 122.8 s;
    13 agents miss 80 % (79.6 %), 14 agents give 88.8 % at occupancy 71.4 %; 14 / 0.7 = 20
    agents scheduled."""
    a = traffic_intensity(100, 180, 30 * 60)
    assert a == 10.0
    assert round(erlang_c(11, a), 4) == 0.6821
    assert round(erlang_c_service_level(11, a, 180, 20), 3) == 0.390
    assert round(erlang_c_asa(11, a, 180), 1) == 122.8
    assert round(erlang_c_service_level(13, a, 180, 20), 3) == 0.796
    assert round(erlang_c_service_level(14, a, 180, 20), 3) == 0.888
    plan = staffing_plan(
        offered=100, interval_s=1800, aht_s=180, threshold_s=20, target_sl=0.8, max_occupancy=0.85, shrinkage=0.3
    )
    assert plan.required_agents == 14 and plan.binding == "service_level"
    assert round(plan.required.occupancy, 3) == 0.714
    assert plan.scheduled_agents == 20
    # the same figures from exact arithmetic
    c11 = exact_erlang_c(11, Fraction(10))
    assert float(c11) == pytest.approx(erlang_c(11, a), rel=1e-13)
    assert float(1 - c11 * Fraction(math.exp(-20 / 180))) == pytest.approx(
        erlang_c_service_level(11, a, 180, 20), rel=1e-13
    )


def test_erlang_c_page_example_cross_checked_exactly():
    """360 calls per half hour, 4 min AHT, 55 agents, 15 s: A = 48, occupancy 87.3 %,
    P(wait) 0.2387, service level 84.6 %, ASA 8.2 s (exact arithmetic gives the same)."""
    a = traffic_intensity(360, 240, 1800)
    assert a == 48.0
    m = erlang_c_metrics(55, a, 240, 15)
    exact = exact_erlang_c(55, Fraction(48))
    assert m.p_wait == pytest.approx(float(exact), rel=1e-12)
    assert round(m.p_wait, 4) == 0.2387
    assert round(m.occupancy, 3) == 0.873
    assert round(m.service_level, 3) == 0.846
    assert m.service_level == pytest.approx(1 - float(exact) * math.exp(-7 * 15 / 240), rel=1e-12)
    assert round(m.asa_s, 1) == 8.2
    assert m.asa_s == pytest.approx(float(exact * 240 / 7), rel=1e-12)


@pytest.mark.parametrize("a", [Fraction(1, 3), Fraction(10), Fraction(27, 4), Fraction(95, 2)])
def test_erlang_c_matches_exact_factorial_formula(a):
    for n in range(math.floor(a) + 1, math.floor(a) + 25):
        exact = exact_erlang_c(n, a)
        assert erlang_c(n, float(a)) == pytest.approx(float(exact), rel=1e-12, abs=1e-300)
        # Erlang B too: B = (A^N/N!) / sum_{k<=N} A^k/k!
        b = a**n / math.factorial(n) / sum(a**k / math.factorial(k) for k in range(n + 1))
        assert erlang_b(n, float(a)) == pytest.approx(float(b), rel=1e-12, abs=1e-300)


def test_unstable_and_degenerate_cases():
    assert erlang_c(10, 10.0) == 1.0 and erlang_c(3, 10.0) == 1.0
    m = erlang_c_metrics(10, 10.0, 180, 20)
    assert (m.p_wait, m.service_level, m.asa_s, m.occupancy) == (1.0, 0.0, None, 1.0)
    assert erlang_c_asa(9, 10.0, 180) == math.inf
    # no traffic: nobody waits, nothing to staff
    m = erlang_c_metrics(3, 0.0, 180, 20)
    assert (m.p_wait, m.service_level, m.asa_s, m.occupancy) == (0.0, 1.0, 0.0, 0.0)
    assert required_agents(0.0, 180, 20, 0.8) == 0
    assert required_agents(0.0, 180, 20, 0.8, patience_s=60) == 0
    # threshold 0: service level = P(no wait)
    assert erlang_c_service_level(12, 10.0, 180, 0) == pytest.approx(1 - erlang_c(12, 10.0))
    assert erlang_a_metrics(12, 10.0, 180, 0, 90).service_level == pytest.approx(
        1 - erlang_a_metrics(12, 10.0, 180, 20, 90).p_wait
    )
    assert occupancy(0, 1.0) == 1.0 and occupancy(4, 2.0) == 0.5


def test_invalid_inputs_raise_value_error():
    with pytest.raises(ValueError, match="aht_s"):
        traffic_intensity(100, 0, 1800)
    with pytest.raises(ValueError, match="offered"):
        traffic_intensity(-1, 180, 1800)
    with pytest.raises(ValueError, match="target_sl"):
        required_agents(10, 180, 20, 1.0)
    with pytest.raises(ValueError, match="target_sl"):
        required_agents(10, 180, 20, 0.0)
    with pytest.raises(ValueError, match="agents"):
        erlang_c(-1, 1.0)
    with pytest.raises(ValueError, match="traffic"):
        erlang_c(3, math.nan)
    with pytest.raises(ValueError, match="shrinkage"):
        scheduled_agents(10, 1.0)
    with pytest.raises(ValueError, match="max_occupancy"):
        agents_for_occupancy(10, 0)
    with pytest.raises(ValueError, match="patience_s"):
        erlang_a_metrics(3, 1.0, 180, 20, 0)
    with pytest.raises(ValueError, match="needs patience"):
        required_agents(10, 180, 20, 0.8, max_abandon_rate=0.05)


# --------------------------------------------------------------------------- large systems


def test_stable_for_thousands_of_agents():
    a = 2000.0
    for n in (2001, 2010, 2020, 2050, 2200, 3000):
        assert erlang_c(n, a) == pytest.approx(log_space_erlang_c(n, a), rel=1e-9)
    n = required_agents(a, 240, 20, 0.8)
    assert erlang_c_service_level(n, a, 240, 20) >= 0.8 > erlang_c_service_level(n - 1, a, 240, 20)
    assert 2000 < n < 2100
    m = erlang_c_metrics(n, a, 240, 20)
    assert all(math.isfinite(x) for x in (m.p_wait, m.service_level, m.asa_s, m.occupancy))
    # far beyond any floor: 20,000 Erlangs, and Erlang A at 2,000 Erlangs (over- and under-staffed)
    big = required_agents(20_000.0, 300, 20, 0.9)
    assert 20_000 < big < 20_400
    for agents in (1500, 1900, 2000, 2100):
        ma = erlang_a_metrics(agents, a, 240, 20, 120)
        assert 0 <= ma.service_level <= 1 and 0 <= ma.abandon_rate <= 1 and ma.asa_s >= 0
    ma = erlang_a_metrics(1500, a, 240, 20, 120)  # 75 % of the load: a quarter abandons
    assert ma.abandon_rate == pytest.approx(0.25, abs=0.01)
    na = required_agents(a, 240, 20, 0.8, patience_s=120)
    assert erlang_a_metrics(na, a, 240, 20, 120).service_level >= 0.8
    assert erlang_a_metrics(na - 1, a, 240, 20, 120).service_level < 0.8


# --------------------------------------------------------------------------- Erlang A


@pytest.mark.parametrize(
    "n,a,aht,t,patience",
    [
        (12, 10.0, 180, 20, 120),  # lightly loaded
        (9, 10.0, 180, 20, 60),  # fewer agents than Erlangs: stable only through abandonment
        (5, 4.5, 300, 30, 600),  # patient customers
        (3, 6.0, 200, 10, 30),  # heavily overloaded, impatient
    ],
)
def test_erlang_a_matches_markov_chain(n, a, aht, t, patience):
    ref = markov_erlang_a(n, a, aht, t, patience)
    got = erlang_a_metrics(n, a, aht, t, patience)
    for key in ("p_wait", "abandon_rate", "service_level", "asa_s", "occupancy"):
        assert getattr(got, key) == pytest.approx(ref[key], rel=1e-8, abs=1e-11), key


def test_erlang_a_matches_mandelbaum_zeltyn_closed_forms():
    """P(W>0) = A·E1 / (1 + (A - 1)·E1) and P(Ab | W>0) = 1/(rho·A) + 1 - 1/rho, with
    A(x, y) = x·e^y·y^-x·gamma(x, y) (lower incomplete gamma, by its own power series)."""
    n, a, aht, patience = 12, 10.0, 180.0, 120.0
    mu, th = 1 / aht, 1 / patience
    lam = a * mu
    x, y = n * mu / th, lam / th
    series, term, k = 0.0, 1.0 / x, 0  # gamma(x, y) = y^x e^-y sum y^k / (x)_(k+1)
    while term > 1e-18 * series or k < 5:
        series += term
        k += 1
        term *= y / (x + k)
    big_a = x * series  # A(x, y) = x e^y y^-x gamma(x, y)
    e1 = erlang_b(n, a)
    rho = lam / (n * mu)
    p_wait = big_a * e1 / (1 + (big_a - 1) * e1)
    p_ab = p_wait * (1 / (rho * big_a) + 1 - 1 / rho)
    got = erlang_a_metrics(n, a, aht, 20, patience)
    assert got.p_wait == pytest.approx(p_wait, rel=1e-12)
    assert got.abandon_rate == pytest.approx(p_ab, rel=1e-10)
    # E[wait] over all contacts = P(Ab) / theta (Little: abandon flow = theta · E[queue])
    e_wait_abandoned = _mean_wait_of_abandoners(n, a, aht, patience)
    e_wait_all = got.asa_s * (1 - got.abandon_rate) + e_wait_abandoned * got.abandon_rate
    assert e_wait_all == pytest.approx(got.abandon_rate * patience, rel=1e-8)


def _mean_wait_of_abandoners(n: int, a: float, aht: float, patience: float, jmax: int = 400) -> float:
    """E[wait | abandoned] from the tagged contact's chain (first-step analysis)."""
    mu, th = 1 / aht, 1 / patience
    lam = a * mu
    p = [1.0]
    for k in range(1, n + jmax + 1):
        p.append(p[-1] * lam / (k * mu if k <= n else n * mu + (k - n) * th))
    z = sum(p)
    h, g = [0.0], [0.0]  # P(abandon | m), E[wait · 1{abandon} | m]
    for m in range(1, jmax + 2):
        up, out = n * mu + (m - 1) * th, n * mu + m * th
        h.append(th / out + up / out * h[m - 1])
        g.append(h[m] / out + up / out * g[m - 1])
    num = sum(p[n + m - 1] / z * g[m] for m in range(1, jmax + 2))
    den = sum(p[n + m - 1] / z * h[m] for m in range(1, jmax + 2))
    return num / den


def test_erlang_a_tends_to_erlang_c_as_patience_grows():
    c = erlang_c_metrics(12, 10.0, 180, 20)
    gaps = []
    for patience in (1e3, 1e5, 1e7, 1e9, 1e11):
        a = erlang_a_metrics(12, 10.0, 180, 20, patience)
        gaps.append(
            max(
                abs(a.service_level - c.service_level),
                abs(a.p_wait - c.p_wait),
                abs(a.asa_s - c.asa_s) / c.asa_s,
                a.abandon_rate,
            )
        )
    # the gap shrinks like 1/patience (no numerical floor even at theta = 1e-12 /s)
    assert gaps[0] > gaps[1]
    assert all(50 < big / small < 200 for big, small in itertools.pairwise(gaps[1:]))
    assert gaps[-1] < 2e-8
    # and the required agents agree once customers are patient enough
    assert required_agents(40.0, 240, 20, 0.8, patience_s=1e7) == required_agents(40.0, 240, 20, 0.8)


def test_erlang_c_overstaffs_queues_with_abandonment():
    c = required_agents(40.0, 240, 20, 0.8)
    a = required_agents(40.0, 240, 20, 0.8, patience_s=120)
    assert a < c
    capped = required_agents(40.0, 240, 20, 0.8, patience_s=120, max_abandon_rate=0.02)
    assert erlang_a_metrics(capped, 40.0, 240, 20, 120).abandon_rate <= 0.02
    assert erlang_a_metrics(capped - 1, 40.0, 240, 20, 120).abandon_rate > 0.02


# --------------------------------------------------------------------------- simulations


def _assert_within(sim: dict, model, keys) -> None:
    for key in keys:
        estimate, se = sim[key]
        expected = getattr(model, key)
        assert abs(estimate - expected) <= 4 * se, (key, estimate, expected, se)


@pytest.mark.parametrize("n,a,aht,t,seed", [(13, 10.0, 180, 20, 11), (6, 4.0, 300, 30, 12)])
def test_erlang_c_agrees_with_simulation(n, a, aht, t, seed):
    sim = simulate(n, a, aht, t, calls=150_000, seed=seed)
    model = erlang_c_metrics(n, a, aht, t)
    _assert_within(sim, model, ("p_wait", "service_level", "asa_s"))
    # the tolerance is tight enough to tell N - 1 and N + 1 apart
    assert 4 * sim["service_level"][1] < min(
        model.service_level - erlang_c_service_level(n - 1, a, aht, t),
        erlang_c_service_level(n + 1, a, aht, t) - model.service_level,
    )


@pytest.mark.parametrize(
    "n,a,aht,t,patience,seed",
    [
        (12, 10.0, 180, 20, 120, 21),
        (36, 40.0, 240, 20, 60, 22),  # fewer agents than Erlangs
    ],
)
def test_erlang_a_agrees_with_simulation(n, a, aht, t, patience, seed):
    sim = simulate(n, a, aht, t, calls=150_000, seed=seed, patience=patience)
    model = erlang_a_metrics(n, a, aht, t, patience)
    _assert_within(sim, model, ("p_wait", "service_level", "abandon_rate", "asa_s"))
    assert 4 * sim["abandon_rate"][1] < 0.01


# --------------------------------------------------------------------------- properties

loads = st.floats(min_value=0.05, max_value=300.0, allow_nan=False)
ahts = st.floats(min_value=10.0, max_value=1200.0, allow_nan=False)
thresholds = st.floats(min_value=0.0, max_value=120.0, allow_nan=False)
targets = st.floats(min_value=0.05, max_value=0.99, allow_nan=False)
fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(a=loads, aht=ahts, t=thresholds)
def test_service_level_rises_with_agents(a, aht, t):
    prev = None
    for n in range(math.floor(a) + 1, math.floor(a) + 30):
        m = erlang_c_metrics(n, a, aht, t)
        assert 0.0 <= m.service_level <= 1.0 and 0.0 <= m.p_wait <= 1.0
        if prev is not None:
            assert m.service_level >= prev.service_level - 1e-12
            assert m.p_wait <= prev.p_wait + 1e-12
            assert m.asa_s <= prev.asa_s * (1 + 1e-12)
        prev = m


@fast
@given(a=loads, aht=ahts, t=thresholds, target=targets, max_occ=st.none() | st.floats(min_value=0.3, max_value=1.0))
def test_required_agents_is_the_minimum(a, aht, t, target, max_occ):
    n = required_agents(a, aht, t, target, max_occupancy=max_occ)

    def meets(k: int) -> bool:
        ok_occ = max_occ is None or a / k <= max_occ * (1 + 1e-9)
        return ok_occ and erlang_c_service_level(k, a, aht, t) >= target

    assert meets(n)
    assert n == 1 or not meets(n - 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a=st.floats(min_value=0.1, max_value=80.0),
    aht=ahts,
    t=thresholds,
    patience=st.floats(min_value=5.0, max_value=2000.0),
)
def test_erlang_a_service_level_rises_with_agents(a, aht, t, patience):
    prev = None
    for n in range(0, math.floor(a) + 15):
        m = erlang_a_metrics(n, a, aht, t, patience)
        assert 0.0 <= m.service_level <= 1.0 and 0.0 <= m.abandon_rate <= 1.0
        if prev is not None:
            assert m.service_level >= prev.service_level - 1e-12
            assert m.abandon_rate <= prev.abandon_rate + 1e-12
        prev = m


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a=st.floats(min_value=0.1, max_value=80.0),
    aht=ahts,
    t=thresholds,
    target=targets,
    patience=st.floats(min_value=5.0, max_value=2000.0),
    max_ab=st.none() | st.floats(min_value=0.01, max_value=0.5),
)
def test_erlang_a_required_agents_is_the_minimum(a, aht, t, target, patience, max_ab):
    n = required_agents(a, aht, t, target, patience_s=patience, max_abandon_rate=max_ab)

    def meets(k: int) -> bool:
        m = erlang_a_metrics(k, a, aht, t, patience)
        return m.service_level >= target and (max_ab is None or m.abandon_rate <= max_ab)

    assert meets(n)
    assert n == 0 or not meets(n - 1)


@given(
    on_phone=st.integers(min_value=0, max_value=5000), shrinkage=st.decimals(min_value=0, max_value="0.95", places=2)
)
def test_scheduled_agents_is_the_smallest_cover(on_phone, shrinkage):
    s = scheduled_agents(on_phone, float(shrinkage))
    keep = 1 - Fraction(str(shrinkage))  # exact decimal arithmetic
    assert s * keep >= on_phone
    assert s == 0 or (s - 1) * keep < on_phone


def test_decimal_inputs_do_not_round_up_by_an_ulp():
    assert scheduled_agents(35, 0.3) == 50  # 35 / 0.7 is 50.000000000000007 in binary
    assert agents_for_occupancy(40.0, 0.8) == 50
    assert agents_for_occupancy(40.0, 0.85) == 48


# --------------------------------------------------------------------------- plan rows


def test_plan_rows_span_required_minus_2_to_plus_3():
    plan = staffing_plan(offered=300, interval_s=1800, aht_s=240, threshold_s=20, target_sl=0.8)
    assert plan.traffic == 40.0 and plan.required_agents == 46
    assert [r.agents for r in plan.rows] == list(range(44, 50))
    small = staffing_plan(offered=3, interval_s=1800, aht_s=600, threshold_s=20, target_sl=0.8)
    assert small.traffic == 1.0 and small.rows[0].agents == 2  # first stable N, not 1
    assert small.rows[-1].agents == small.required_agents + 3
    ea = staffing_plan(offered=3, interval_s=1800, aht_s=600, threshold_s=20, target_sl=0.5, patience_s=60)
    assert ea.rows[0].agents == max(1, ea.required_agents - 2)
    assert all(r.abandon_rate is not None for r in ea.rows)


# --------------------------------------------------------------------------- CLI


def _cli(*argv: str, settings_obj=None) -> tuple[int, str, str]:
    from floorwatch.services import erlang_cli

    parser = argparse.ArgumentParser(prog="floorwatch erlang")
    erlang_cli.add_arguments(parser)
    args = parser.parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = erlang_cli.main(settings_obj, args)
    return rc, out.getvalue(), err.getvalue()


BASE = ("--offered", "300", "--interval-minutes", "30", "--aht", "240", "--threshold", "20", "--target-sl", "0.8")


def test_cli_json_contract():
    rc, out, err = _cli(*BASE, "--json")
    assert rc == 0 and err == ""
    doc = json.loads(out)
    assert doc["required_agents"] == 46
    assert [r["agents"] for r in doc["rows"]] == list(range(44, 50))
    for row in doc["rows"]:
        assert {"agents", "service_level", "asa_s", "occupancy"} <= set(row)
        assert "abandon_rate" not in row
    row46 = next(r for r in doc["rows"] if r["agents"] == 46)
    assert row46["service_level"] == pytest.approx(erlang_c_service_level(46, 40.0, 240, 20))
    assert row46["asa_s"] == pytest.approx(erlang_c_asa(46, 40.0, 240))


def test_cli_json_with_shrinkage_occupancy_and_patience():
    rc, out, _ = _cli(*BASE, "--max-occupancy", "0.85", "--shrinkage", "0.3", "--json")
    doc = json.loads(out)
    assert rc == 0
    assert doc["required_agents"] == 48 and doc["binding"] == "max_occupancy"  # 40 / 0.85 = 47.06
    assert doc["scheduled_agents"] == 69  # 48 / 0.7 = 68.6
    rc, out, _ = _cli(*BASE, "--patience", "120", "--json")
    doc = json.loads(out)
    assert rc == 0 and doc["model"] == "erlang_a" and doc["required_agents"] == 41
    assert all("abandon_rate" in r for r in doc["rows"])
    rc, out, _ = _cli(*BASE, "--patience", "120", "--max-abandon", "3%", "--json")
    doc = json.loads(out)
    assert rc == 0 and doc["required_agents"] == 45 and doc["binding"] == "max_abandon"
    by_agents = {r["agents"]: r for r in doc["rows"]}
    assert by_agents[45]["abandon_rate"] <= 0.03 < by_agents[44]["abandon_rate"]


def test_cli_text_output():
    rc, out, _ = _cli(*BASE, "--shrinkage", "30%")
    assert rc == 0
    assert "40.00 Erlangs" in out and "required agents: 46" in out and "scheduled agents: 66" in out
    assert any(line.startswith(">") and " 46 " in line for line in out.splitlines())


@pytest.mark.parametrize(
    "argv,needle",
    [
        (("--aht", "240"), "--offered is required"),
        (("--offered", "ten", "--aht", "240"), "--offered: not a number"),
        (("--offered", "100", "--aht", "0"), "--aht: must be > 0"),
        (("--offered", "100", "--aht", "240", "--target-sl", "80"), "--target-sl"),
        (("--offered", "100", "--aht", "240", "--shrinkage", "1"), "--shrinkage"),
        (("--offered", "100", "--aht", "240", "--max-occupancy", "0"), "--max-occupancy"),
        (("--offered", "100", "--aht", "240", "--patience", "-5"), "--patience"),
        (("--offered", "100", "--aht", "240", "--max-abandon", "0.05"), "needs --patience"),
        (("--offered", "inf", "--aht", "240"), "finite"),
    ],
)
def test_cli_invalid_input_is_one_line_and_exit_2(argv, needle):
    rc, out, err = _cli(*argv)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("floorwatch erlang: ") and needle in err


def test_cli_defaults_come_from_the_configuration():
    from floorwatch.config import Settings

    cfg = Settings(
        interval_minutes=15,
        queue_defaults={"sl_threshold_s": 30, "sl_target": 0.9},
        queues=[{"id": "chat", "sl_threshold_s": 60, "sl_target": 0.7}],
    )
    _, out, _ = _cli("--offered", "150", "--aht", "240", "--json", settings_obj=cfg)
    doc = json.loads(out)
    assert doc["inputs"]["interval_minutes"] == 15 and doc["inputs"]["threshold_s"] == 30
    assert doc["required_agents"] == required_agents(40.0, 240, 30, 0.9)
    _, out, _ = _cli("--offered", "150", "--aht", "240", "--queue", "chat", "--json", settings_obj=cfg)
    assert json.loads(out)["required_agents"] == required_agents(40.0, 240, 60, 0.7)
    rc, _, err = _cli("--offered", "150", "--aht", "240", "--queue", "nope", settings_obj=cfg)
    assert rc == 2 and "unknown queue 'nope'" in err


def test_module_is_pure():
    """No Faust / FastAPI / pydantic behind the maths (importable from anywhere, cheap)."""
    src = Path(erlang.__file__).read_text(encoding="utf-8")
    for heavy in ("faust", "fastapi", "pydantic", "aiokafka"):
        assert f"import {heavy}" not in src and f"from {heavy}" not in src


# --------------------------------------------------------------------------- special functions


def test_special_functions_against_exact_values():
    # I_x(a, b) for whole a, b is a binomial tail: sum_{k>=a} C(a+b-1, k) x^k (1-x)^(a+b-1-k)
    for a, b, x in [
        (1, 1, Fraction(1, 3)),
        (3, 5, Fraction(2, 7)),
        (40, 12, Fraction(9, 10)),
        (12, 40, Fraction(1, 10)),
        (200, 150, Fraction(3, 5)),
    ]:
        n = a + b - 1
        exact = sum(math.comb(n, k) * x**k * (1 - x) ** (n - k) for k in range(a, n + 1))
        assert erlang._betainc(float(a), float(b), float(x)) == pytest.approx(float(exact), rel=1e-12, abs=1e-300)
    euler_gamma = 0.5772156649015329
    for n in (1, 2, 7, 10, 50, 1000):
        expected = math.fsum(1 / k for k in range(1, n)) - euler_gamma
        assert erlang._digamma(float(n)) == pytest.approx(expected, abs=1e-14)
    assert erlang._harmonic(2.5, 5000) == pytest.approx(math.fsum(1 / (2.5 + i) for i in range(1, 5001)), rel=1e-14)
    assert erlang._lgamma_ratio(1e9, 1.0) == pytest.approx(math.log(1e9), rel=1e-15)
    assert erlang._lgamma_ratio(150.0, 7.0) == pytest.approx(math.fsum(math.log(150 + i) for i in range(7)), rel=1e-14)


@pytest.mark.parametrize(
    "n,a,aht,t,patience",
    [
        (10, 2000.0, 240, 20, 1e5),
        (1500, 2000.0, 240, 20, 3600),
        (5, 10.0, 180, 20, 1e7),
        (100, 400.0, 300, 0, 5e4),
        (1000, 2000.0, 240, 600, 2e4),
    ],
)
def test_erlang_a_shortcut_equals_the_full_series(monkeypatch, n, a, aht, t, patience):
    """Heavily overloaded, patient queues skip the negligible head of the series; the result
    is the one of summing every term."""
    fast_path = erlang_a_metrics(n, a, aht, t, patience)
    monkeypatch.setattr(erlang, "_SKIP_MIN_TERMS", 10**12)
    full = erlang_a_metrics(n, a, aht, t, patience)
    for key in ("p_wait", "service_level", "asa_s", "abandon_rate", "occupancy"):
        assert getattr(fast_path, key) == pytest.approx(getattr(full, key), rel=1e-10, abs=1e-12), key


# --------------------------------------------------------------------------- search and the cap

# The reference: the previous implementation (Erlang B by its recursion from B(0) = 1, then N
# walked up one agent at a time from floor(A) + 1; O(N) per call), kept in the benchmark that
# measures it as its baseline.
linear_walk_required = old_required


def decimal_erlang_b(n: int, a: float) -> float:
    """Erlang B by the recursion in 50-digit decimal arithmetic (no rounding to speak of)."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 50
        load, b = Decimal(a), Decimal(1)
        for k in range(1, n + 1):
            b = load * b / (k + load * b)
        return float(b)


GRID_LOADS = [
    0.02,
    0.5,
    1.0,
    3.3,
    9.99,
    10.0,
    47.5,
    63.7,
    64.0,
    64.01,
    65.5,
    99.0,
    150.25,
    640.0,
    1000.0,
    2047.5,
    4321.1,
    7500.0,
    9000.0,
    9876.5,
    9990.0,
    9999.5,
]


@pytest.mark.parametrize("a", GRID_LOADS)
def test_search_equals_the_linear_walk(a):
    """Doubling + bisection over N, with Erlang B from the Poisson terms, gives the walk's N on
    a grid of AHTs, thresholds and targets, from 0.02 to 9,999.5 Erlangs; with the default cap of
    10,000 agents a walk result above 10,000 is OverCap(10000) and every other one is unchanged."""
    over = 0
    for aht in (3.0, 30.0, 240.0, 1800.0, 86_400.0):
        for t in (0.0, 20.0, 300.0):
            for target in (0.5, 0.8, 0.95, 0.999):
                walk = linear_walk_required(a, aht, t, target)
                assert required_agents(a, aht, t, target) == walk, (a, aht, t, target)
                capped = required_agents(a, aht, t, target, max_agents=10_000)
                if walk > 10_000:
                    over += 1
                    assert capped == erlang.OverCap(10_000)
                else:
                    assert capped == walk
    assert (over > 0) == (a >= 9876.5)  # the grid reaches over the cap below A = 10,000


def test_erlang_b_from_the_poisson_terms_matches_exact_arithmetic():
    """Above the recursion's range B comes from the terms around the peak of the load: within
    1e-13 of a 50-digit evaluation wherever B can still matter (B > 1e-17), and far below 1
    where it cannot."""
    for a in (64.5, 250.0, 1234.5, 9999.9):
        span = int(9 * math.sqrt(a))
        for n in range(max(65, int(a) - span), int(a) + span, max(1, span // 12)):
            exact = decimal_erlang_b(n, a)
            got = erlang_b(n, a)
            if exact > 1e-17:
                assert got == pytest.approx(exact, rel=1e-13), (a, n)
            else:
                assert got <= 1e-16
    # far above the load: what is left is tiny, and still close in relative terms
    assert erlang_b(2500, 1234.5) == pytest.approx(decimal_erlang_b(2500, 1234.5), rel=1e-10)
    assert erlang_b(10_000, 10.0) == 0.0 or erlang_b(10_000, 10.0) < 1e-300


def _count_service_level_calls(monkeypatch) -> list[int]:
    calls = [0]
    real = erlang._sl_c

    def counted(*args):
        calls[0] += 1
        return real(*args)

    monkeypatch.setattr(erlang, "_sl_c", counted)
    return calls


@pytest.mark.parametrize(
    "a,aht,t,target",
    [
        (9000.0, 240.0, 20.0, 0.8),
        (9000.0, 86_400.0, 0.0, 0.999),
        (40.0, 240.0, 20.0, 0.8),
        (2000.0, 86_400.0, 20.0, 0.95),
        (0.5, 3.0, 300.0, 0.5),
    ],
)
def test_search_takes_a_logarithmic_number_of_evaluations(monkeypatch, a, aht, t, target):
    """A doubling from floor(A) (lo + 1, lo + 3, lo + 7, ...) reaches N - floor(A) in k probes,
    k = ceil(log2(N - floor(A) + 1)), then a bisection of the last doubling needs k - 1 more;
    the walk evaluated the service level N - floor(A) times."""
    calls = _count_service_level_calls(monkeypatch)
    n = required_agents(a, aht, t, target)
    k = math.ceil(math.log2(n - math.floor(a) + 1))
    assert 1 <= calls[0] <= 2 * k - 1, (n, calls[0])


def test_a_load_at_or_over_the_cap_is_over_cap_at_once(monkeypatch):
    """Erlang C needs N > A: A >= max_agents is answered without evaluating anything, however
    large (the load that froze the API: 1e9 contacts of 10,000 s per half hour)."""
    calls = _count_service_level_calls(monkeypatch)
    monkeypatch.setattr(erlang, "_ErlangB", None)  # any Erlang B evaluation would fail
    incident = traffic_intensity(1e9, 1e4, 1800)
    assert incident > 5e9
    assert required_agents(incident, 1e4, 20, 0.8, max_agents=10_000) == erlang.OverCap(10_000)
    assert required_agents(10_000.0, 240, 20, 0.8, max_agents=10_000) == erlang.OverCap(10_000)
    assert calls[0] == 0
    # without a cap the same load is still bounded: a ValueError, not a stall
    with pytest.raises(ValueError):
        required_agents(math.inf, 240, 20, 0.8)


def test_the_cap_is_exact_below_a_load_of_cap():
    """9,990 Erlangs need 10,007 agents (walk): a cap of 10,007 gives the number, one less is
    over it; the cap also binds the occupancy and Erlang A conditions."""
    need = linear_walk_required(9990.0, 240, 20, 0.8)
    assert need == 10_007
    assert required_agents(9990.0, 240, 20, 0.8, max_agents=need) == need
    assert required_agents(9990.0, 240, 20, 0.8, max_agents=need - 1) == erlang.OverCap(need - 1)
    # occupancy: ceil(9,000 / 0.85) = 10,589 > 10,000 (the service level alone needs 9,017)
    assert required_agents(9000.0, 240, 20, 0.8, max_agents=10_000) == 9017
    assert required_agents(9000.0, 240, 20, 0.8, max_occupancy=0.85, max_agents=10_000) == erlang.OverCap(10_000)
    assert required_agents(9000.0, 240, 20, 0.8, max_occupancy=0.85, max_agents=10_589) == 10_589
    # Erlang A: the capped search finds the same minimum, and one below it is over the cap
    na = required_agents(2000.0, 240, 20, 0.8, patience_s=120)
    assert required_agents(2000.0, 240, 20, 0.8, patience_s=120, max_agents=na) == na
    assert required_agents(2000.0, 240, 20, 0.8, patience_s=120, max_agents=na - 1) == erlang.OverCap(na - 1)
    nab = required_agents(40.0, 240, 20, 0.8, patience_s=120, max_abandon_rate=0.02)
    assert required_agents(
        40.0, 240, 20, 0.8, patience_s=120, max_abandon_rate=0.02, max_agents=nab - 1
    ) == erlang.OverCap(nab - 1)
    with pytest.raises(ValueError, match="max_agents"):
        required_agents(10.0, 240, 20, 0.8, max_agents=0)


def test_staffing_plan_over_the_cap_has_no_numbers_and_no_rows():
    plan = staffing_plan(
        offered=300, interval_s=1800, aht_s=240, threshold_s=20, target_sl=0.8, shrinkage=0.3, max_agents=45
    )  # 40 Erlangs need 46
    assert plan.over_cap and plan.required_agents == erlang.OverCap(45) and plan.rows == ()
    assert plan.binding == "service_level" and plan.required is None
    doc = plan.as_dict()
    assert (doc["required_agents"], doc["required_agents_over_cap"], doc["scheduled_agents"]) == (None, True, None)
    ok = staffing_plan(offered=300, interval_s=1800, aht_s=240, threshold_s=20, target_sl=0.8, max_agents=46)
    assert ok.required_agents == 46 and not ok.over_cap and ok.as_dict()["required_agents_over_cap"] is False
    occ = staffing_plan(
        offered=300, interval_s=1800, aht_s=240, threshold_s=20, target_sl=0.8, max_occupancy=0.85, max_agents=47
    )  # 40 / 0.85 -> 48
    assert occ.over_cap and occ.binding == "max_occupancy" and occ.agents_for_service_level == 46


def test_cli_says_over_cap():
    rc, out, err = _cli("--offered", "1e9", "--aht", "1e4")
    assert rc == 0 and err == ""
    assert "required agents: over cap: more than 10,000 on the phones" in out
    rc, out, _ = _cli("--offered", "1e9", "--aht", "1e4", "--json")
    doc = json.loads(out)
    assert (doc["required_agents"], doc["required_agents_over_cap"], doc["max_agents"], doc["rows"]) == (
        None,
        True,
        10_000,
        [],
    )
    rc, out, _ = _cli(*BASE, "--max-agents", "45", "--json")
    assert rc == 0 and json.loads(out)["required_agents_over_cap"] is True
    rc, out, _ = _cli(*BASE, "--max-agents", "46", "--json")
    assert rc == 0 and json.loads(out)["required_agents"] == 46
    rc, _, err = _cli(*BASE, "--max-agents", "0")
    assert rc == 2 and "--max-agents" in err


def test_cli_max_agents_defaults_to_the_setting():
    from floorwatch.config import Settings

    cfg = Settings(staffing={"max_agents_per_queue": 45})
    _, out, _ = _cli(*BASE, "--json", settings_obj=cfg)
    doc = json.loads(out)
    assert doc["required_agents_over_cap"] is True and doc["max_agents"] == 45
