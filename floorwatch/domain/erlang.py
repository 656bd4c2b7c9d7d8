"""Staffing maths: Erlang C (M/M/N) and Erlang A (M/M/N+M), pure Python, numerically stable.

Units: times in seconds, ``traffic`` (offered load A) in Erlangs = arrival rate x AHT.
Everything here is a pure function of its arguments (no I/O, no Faust, no FastAPI), cheap
enough to call on every tick of the live worker. Formulas, assumptions and worked
examples: ``docs/staffing.md``.

Stability and cost
    Erlang B up to ``_RECURSION_MAX_AGENTS`` agents is computed with the recursion B(0) = 1,
    B(n) = A·B(n-1) / (n + A·B(n-1)), whose every step is a ratio in [0, 1]: no factorial, no
    power, no overflow. Above that it is the Poisson ratio B = pmf(N) / cdf(N) of mean A, as a
    sum of positive terms taken relative to the largest one (j = floor(A)) and stopped where the
    rest cannot change a double: O(sqrt(A)) terms whatever N (``_ErlangB``), not O(N).
    Erlang C is then C = N·B / (N - A·(1 - B)).

    Erlang A adds one series of positive terms, evaluated in log space relative to its largest
    term; leading terms too small to matter are skipped with closed forms (lgamma differences
    via Stirling, digamma, incomplete beta by continued fraction), so heavy overload with
    patient customers stays cheap and exact (see ``_erlang_a_from_b``). No scipy:
    ``math.lgamma`` and a few lines each.

    Required agents are found by a doubling then a bisection over N (O(log N) evaluations,
    each O(1) once the terms of the load are summed) and stop at ``max_agents``: a requirement
    above it is answered ``OverCap``, at once when A >= max_agents (Erlang C needs N > A).

Conventions
    * Erlang C with N <= A (including N = 0 with traffic) is unstable: the queue grows without
      bound. It is reported as P(wait) = 1, service level 0, ``asa_s`` None (infinite).
    * No traffic (A = 0): nobody waits; service level 1, ASA 0, occupancy 0; 0 agents needed.
    * Service level = share of *offered* contacts answered within the threshold T (the model
      counterpart of the ``answered_over_offered`` formula; the model has no short abandons). In
      Erlang C nobody abandons, so it is simply P(wait <= T).
    * ASA = mean wait of the *answered* contacts, in seconds.
    * Occupancy = carried load / agents: A/N for Erlang C (capped at 1), A·(1 - P(abandon))/N
      for Erlang A.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import accumulate, repeat
from operator import mul, truediv
from typing import Any, overload

__all__ = [
    "OverCap",
    "QueueMetrics",
    "StaffingPlan",
    "agents_for_occupancy",
    "erlang_a_metrics",
    "erlang_b",
    "erlang_c",
    "erlang_c_asa",
    "erlang_c_metrics",
    "erlang_c_service_level",
    "metrics",
    "occupancy",
    "required_agents",
    "scheduled_agents",
    "staffing_plan",
    "traffic_intensity",
]

#: An Erlang A evaluation stops with an error rather than sum more terms than this.
MAX_SERIES_TERMS = 2_000_000
#: Relative slack when turning a real number of agents into a whole one (``_ceil``): 40/0.8
#: or 35/0.7 land a few ulps above 50 in binary floating point and must still give 50.
_CEIL_SLACK = 1e-9
#: Terms below e^-46 (1e-20) of the largest one no longer change a double.
_LOG_NEGLIGIBLE = -46.0
#: Erlang A skips negligible leading terms (closed forms instead) when the peak is further.
_SKIP_MIN_TERMS = 2_000
#: Erlang B by the recursion from 0 up to this many agents (a few ulps from exact, <= 64
#: steps); above, from the Poisson terms around the peak of the load (``_ErlangB``).
_RECURSION_MAX_AGENTS = 64
#: A sum of positive terms stops when a bound of what is left is below this share of it.
_LOG_NEGLIGIBLE_SHARE = math.log(1e-17)


# --------------------------------------------------------------------------- validation


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def _positive(name: str, value: float) -> float:
    value = _finite(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value:g}")
    return value


def _non_negative(name: str, value: float) -> float:
    value = _finite(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value:g}")
    return value


def _agents(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"agents must be a whole number >= 0, got {value!r}")
    return value


def _max_agents(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"max_agents must be a whole number >= 1, got {value!r}")
    return value


def _ceil(x: float) -> int:
    """ceil(x), except that x within a relative 1e-9 of a whole number counts as that number."""
    r = round(x)
    if abs(x - r) <= _CEIL_SLACK * max(1.0, abs(x)):
        return int(r)
    return math.ceil(x)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class OverCap:
    """The answer when a requirement exceeds the cap: more than ``max_agents`` agents would be
    needed (how many more is not computed)."""

    max_agents: int


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    """Steady-state figures of one queue staffed by ``agents`` agents."""

    agents: int
    traffic: float  #: offered load A, Erlangs
    p_wait: float  #: P(an arriving contact is not answered at once)
    service_level: float  #: share of offered contacts answered within the threshold
    asa_s: float | None  #: mean wait of answered contacts; None = unbounded / none answered
    occupancy: float  #: carried load / agents, 0..1
    abandon_rate: float | None = None  #: share of offered contacts that abandon (Erlang A only)

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "agents": self.agents,
            "service_level": self.service_level,
            "asa_s": self.asa_s,
            "occupancy": self.occupancy,
            "p_wait": self.p_wait,
        }
        if self.abandon_rate is not None:
            row["abandon_rate"] = self.abandon_rate
        return row


@dataclass(frozen=True, slots=True)
class StaffingPlan:
    """What ``floorwatch erlang`` prints: required agents for one interval plus a small table."""

    model: str  #: "erlang_c" or "erlang_a"
    traffic: float  #: offered load, Erlangs
    required_agents: int | OverCap  #: on the phones: min N meeting the target and every cap
    scheduled_agents: int | OverCap  #: required_agents grossed up by shrinkage
    agents_for_service_level: int | OverCap  #: min N meeting the service-level target alone
    agents_for_abandon: int | OverCap  #: min N with abandon rate <= the cap (Erlang A; 0 when no cap)
    agents_for_occupancy: int | OverCap  #: min N with A/N <= max occupancy (0 when no cap)
    binding: str  #: which one sets required_agents: "service_level",
    #: "max_abandon", "max_occupancy" or "no_traffic"
    rows: tuple[QueueMetrics, ...]  #: empty when over the cap
    max_agents: int | None = None  #: the cap on agents (None: none)

    @property
    def over_cap(self) -> bool:
        return isinstance(self.required_agents, OverCap)

    @property
    def required(self) -> QueueMetrics | None:
        """The row of ``required_agents`` (None when there is no traffic and so no row 0, or
        when over the cap)."""
        for row in self.rows:
            if row.agents == self.required_agents:
                return row
        return None

    def as_dict(self) -> dict[str, Any]:
        """JSON shape: an over-cap figure is ``null`` (``required_agents_over_cap`` true)."""

        def number(value: int | OverCap) -> int | None:
            return None if isinstance(value, OverCap) else value

        return {
            "required_agents": number(self.required_agents),
            "required_agents_over_cap": self.over_cap,
            "max_agents": self.max_agents,
            "scheduled_agents": number(self.scheduled_agents),
            "model": self.model,
            "traffic_erlangs": self.traffic,
            "binding": self.binding,
            "agents_for_service_level": number(self.agents_for_service_level),
            "agents_for_abandon": number(self.agents_for_abandon),
            "agents_for_occupancy": number(self.agents_for_occupancy),
            "rows": [row.as_dict() for row in self.rows],
        }


# --------------------------------------------------------------------------- Erlang B / C


def traffic_intensity(offered: float, aht_s: float, interval_s: float) -> float:
    """Offered load A in Erlangs: ``offered`` contacts per ``interval_s`` seconds x AHT."""
    offered = _non_negative("offered", offered)
    aht_s = _positive("aht_s", aht_s)
    interval_s = _positive("interval_s", interval_s)
    return offered * aht_s / interval_s


def _erlang_b_recursion(n: int, a: float) -> float:
    """B(n, A) by the recursion from B(0) = 1 (O(n): only for small n)."""
    b = 1.0
    for k in range(1, n + 1):
        ab = a * b
        b = ab / (k + ab)
    return b


def _terms_below(n: int, a: float) -> int:
    """How many terms below w_n (0 <= n <= A) ``_sum_down`` adds. With d = A - n, the k-th is
    w_{n-k}/w_n = prod_{i<k} (n - i)/A <= exp(-(k·d + k(k-1)/2)/A) (as 1 - x <= e^-x): once that
    is below 1e-17/A, the at most A terms left add less than 1e-17 of the sum (which is >= 1).
    About 10·sqrt(A) terms when n is near A, a few when n is well below it."""
    m = -_LOG_NEGLIGIBLE_SHARE + math.log(max(a, 1.0))
    half = a - n - 0.5
    return min(n, math.ceil(-half + math.sqrt(half * half + 2.0 * a * m)))


def _terms_above(p: int) -> int:
    """How many terms above the peak w_p (p = floor(A)) ``_ErlangB`` tabulates: the k-th is
    prod_{i<=k} A/(p + i) <= exp(-k(k-1) / (2(p + k))) (log(1 + x) >= x/(1 + x), p + i - A > i - 1),
    and the rest after K terms is at most (p + 1)/K times the K-th; K solves
    K(K - 1) / (2(p + K)) = -log(1e-17) + log(p + 1). About 10·sqrt(A)."""
    m = -_LOG_NEGLIGIBLE_SHARE + math.log(p + 1.0)
    b = 1.0 + 2.0 * m
    return math.ceil((b + math.sqrt(b * b + 8.0 * m * p)) / 2.0)


def _sum_down(n: int, a: float) -> float:
    """sum_{j<=n} (A^j/j!) / (A^n/n!) for 0 <= n <= A: 1 + n/A + n(n-1)/A^2 + ..., the running
    products and their sum done by C iterators (``_terms_below`` of them)."""
    k = _terms_below(n, a)
    products: Iterable[float] = accumulate(map(truediv, range(n, n - k, -1), repeat(a, k)), mul)
    return 1.0 + sum(products)


class _ErlangB:
    """Erlang B of one load A at any number of agents, each N in O(1) after an O(sqrt(A))
    set-up (so a search over N costs O(sqrt(A) + log N), not O(N) per step).

    1/B(N, A) = sum_{j<=N} w_j / w_N with w_j = A^j/j! (the Poisson cdf over its pmf). Every
    term is kept relative to the largest, w_p with p = floor(A). For N <= p the sum runs down
    from N (``_sum_down``). For N > p the running sums start from sum_{j<=p} w_j/w_p and the
    terms w_j/w_p (shrinking by A/j) are tabulated with them on demand, up to where the rest
    is negligible (``_terms_above``); past the table the sum is complete and w_N/w_p comes from
    lgamma (then B < 1e-17, where its last digits do not matter).
    """

    __slots__ = ("a", "p", "k_max", "terms", "sums")

    def __init__(self, a: float) -> None:
        self.a = a
        self.p = math.floor(a)
        self.k_max = 0  # table length where the rest is negligible (first use)
        self.terms: list[float] = []  # w_j / w_p for j = p + 1, p + 2, ... (extended on demand)
        self.sums: list[float] = []  # sum_{i<=j} w_i / w_p for the same j

    def _extend(self, k: int) -> None:
        """Tabulate terms up to j = p + k (at least doubling the table, at most ``k_max``)."""
        a, p, terms, sums = self.a, self.p, self.terms, self.sums
        if not self.k_max:
            self.k_max = _terms_above(p)
            terms.append(a / (p + 1))
            sums.append(_sum_down(p, a) + terms[0])
        have = len(terms)
        upto = min(self.k_max, max(k, 2 * have, 64))
        new = list(
            accumulate(map(truediv, repeat(a, upto - have), range(p + have + 1, p + upto + 1)), mul, initial=terms[-1])
        )
        del new[0]
        terms.extend(new)
        sums.extend(accumulate(new, initial=sums[-1]))
        del sums[have]  # the initial value, already there

    def __call__(self, n: int) -> float:
        a = self.a
        if a == 0:
            return 1.0 if n == 0 else 0.0
        if n <= _RECURSION_MAX_AGENTS:
            return _erlang_b_recursion(n, a)
        p = self.p
        if n <= p:
            return 1.0 / _sum_down(n, a)
        k = n - p  # term j = n is terms[k - 1]
        if k > len(self.terms) and (not self.k_max or len(self.terms) < self.k_max):
            self._extend(k)
        terms, sums = self.terms, self.sums
        if k <= len(terms):
            return terms[k - 1] / sums[k - 1]
        log_ratio = math.lgamma(n + 1) - math.lgamma(p + 1) - (n - p) * math.log(a)  # log(w_p/w_n)
        return math.exp(-log_ratio) / sums[-1]


def _erlang_b_iter(traffic: float, start: int = 0) -> Iterator[tuple[int, float]]:
    """(n, B(n, A)) for n = start, start + 1, ...: B(start) directly, then the recursion."""
    n = start
    b = _ErlangB(traffic)(start)
    while True:
        yield n, b
        n += 1
        ab = traffic * b
        b = ab / (n + ab)


def erlang_b(agents: int, traffic: float) -> float:
    """Erlang B blocking probability B(N, A): the stable recursion for small N, else the
    Poisson pmf/cdf ratio summed around its peak (O(sqrt(A)) terms, no factorials)."""
    agents = _agents(agents)
    traffic = _non_negative("traffic", traffic)
    return _ErlangB(traffic)(agents)


def _c_from_b(n: int, a: float, b: float) -> float:
    if a == 0:
        return 0.0
    if n <= a:
        return 1.0
    return min(1.0, n * b / (n - a * (1.0 - b)))


def erlang_c(agents: int, traffic: float) -> float:
    """Erlang C: probability that a contact waits, P(W > 0); 1.0 when N <= A (unstable)."""
    agents = _agents(agents)
    traffic = _non_negative("traffic", traffic)
    return _c_from_b(agents, traffic, erlang_b(agents, traffic))


def _sl_c(n: int, a: float, c: float, aht_s: float, threshold_s: float) -> float:
    if a == 0:
        return 1.0
    if n <= a:
        return 0.0
    return max(0.0, 1.0 - c * math.exp(-(n - a) * threshold_s / aht_s))


def _asa_c(n: int, a: float, c: float, aht_s: float) -> float | None:
    if a == 0:
        return 0.0
    if n <= a:
        return None
    return c * aht_s / (n - a)


def occupancy(agents: int, traffic: float) -> float:
    """Erlang C occupancy A/N, capped at 1 (0 without traffic; 1 with traffic and no agent)."""
    agents = _agents(agents)
    traffic = _non_negative("traffic", traffic)
    return _occ_c(agents, traffic)


def _occ_c(n: int, a: float) -> float:
    if a == 0:
        return 0.0
    if n == 0:
        return 1.0
    return min(1.0, a / n)


def erlang_c_service_level(agents: int, traffic: float, aht_s: float, threshold_s: float) -> float:
    """P(wait <= T) = 1 - C·exp(-(N - A)·T / AHT); 0 when N <= A."""
    agents = _agents(agents)
    traffic = _non_negative("traffic", traffic)
    aht_s = _positive("aht_s", aht_s)
    threshold_s = _non_negative("threshold_s", threshold_s)
    return _sl_c(agents, traffic, erlang_c(agents, traffic), aht_s, threshold_s)


def erlang_c_asa(agents: int, traffic: float, aht_s: float) -> float:
    """Average speed of answer C·AHT / (N - A) in seconds; ``math.inf`` when N <= A."""
    agents = _agents(agents)
    traffic = _non_negative("traffic", traffic)
    aht_s = _positive("aht_s", aht_s)
    asa = _asa_c(agents, traffic, erlang_c(agents, traffic), aht_s)
    return math.inf if asa is None else asa


def _metrics_c(n: int, a: float, b: float, aht_s: float, threshold_s: float) -> QueueMetrics:
    c = _c_from_b(n, a, b)
    return QueueMetrics(
        agents=n,
        traffic=a,
        p_wait=c,
        service_level=_sl_c(n, a, c, aht_s, threshold_s),
        asa_s=_asa_c(n, a, c, aht_s),
        occupancy=_occ_c(n, a),
    )


def erlang_c_metrics(agents: int, traffic: float, aht_s: float, threshold_s: float) -> QueueMetrics:
    """P(wait), service level, ASA and occupancy of an M/M/N queue (Erlang C)."""
    agents = _agents(agents)
    traffic = _non_negative("traffic", traffic)
    aht_s = _positive("aht_s", aht_s)
    threshold_s = _non_negative("threshold_s", threshold_s)
    return _metrics_c(agents, traffic, erlang_b(agents, traffic), aht_s, threshold_s)


# --------------------------------------------------------------------------- Erlang A


def _log_add(x: float, y: float) -> float:
    """log(e^x + e^y) without overflow."""
    if x < y:
        x, y = y, x
    if y == -math.inf:
        return x
    return x + math.log1p(math.exp(y - x))


def _lgamma_ratio(z: float, b: float) -> float:
    """lgamma(z + b) - lgamma(z), z > 0, b >= 0, without the cancellation of two huge lgammas
    (Stirling's series written around log1p(b/z) when z >= 100; error ~ 1e-16·b·log z)."""
    if z < 100.0:
        return math.lgamma(z + b) - math.lgamma(z)

    def corr(y: float) -> float:
        inv = 1.0 / y
        inv2 = inv * inv
        return inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680)))

    return (z - 0.5) * math.log1p(b / z) + b * math.log(z + b) - b + corr(z + b) - corr(z)


def _digamma(z: float) -> float:
    """psi(z) for z > 0: recurrence up to z >= 20, then the asymptotic series (error < 1e-15)."""
    acc = 0.0
    while z < 20.0:
        acc -= 1.0 / z
        z += 1.0
    inv2 = 1.0 / (z * z)
    tail = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132))))
    return acc + math.log(z) - 0.5 / z - tail


def _harmonic(alpha: float, m: int) -> float:
    """sum_{i=1}^{m} 1/(alpha + i) = psi(alpha + m + 1) - psi(alpha + 1)."""
    if m <= 64:
        return math.fsum(1.0 / (alpha + i) for i in range(1, m + 1))
    return _digamma(alpha + m + 1.0) - _digamma(alpha + 1.0)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta (modified Lentz, Numerical Recipes 6.4)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1_000_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) <= 4e-16:
            return h
    raise ValueError("incomplete beta continued fraction did not converge")  # pragma: no cover


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b), a, b > 0, 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    small, big = (a, b) if a <= b else (b, a)
    log_beta = math.lgamma(small) - _lgamma_ratio(big, small)  # log B(a, b)
    log_front = a * math.log(x) + b * math.log1p(-x) - log_beta
    if x < (a + 1.0) / (a + b + 2.0):
        return min(1.0, math.exp(log_front) * _betacf(a, b, x) / a)
    return max(0.0, 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b)


def _erlang_a_from_b(
    n: int, a_load: float, b: float, aht_s: float, threshold_s: float, patience_s: float
) -> QueueMetrics:
    """M/M/N+M (Palm / Erlang A) given B = ErlangB(n, A).

    With theta = 1/patience, alpha = N·mu/theta and x = lambda/theta, an arrival finds N + j
    contacts (j >= 0 waiting ahead of it) with probability pi_N·c_j, c_j = x^j / prod_{i<=j}(alpha + i),
    and S = sum c_j = alpha·e^x·x^-alpha·gamma(alpha, x) (Mandelbaum & Zeltyn's A(alpha, x)), so that
    P(W > 0) = S·B / (1 + (S - 1)·B). Given j, the contact is answered with probability
    alpha/(alpha + j + 1); given answered, its wait is a sum of exponentials of rates
    theta·(alpha + i), i = 1..j+1, so exp(-theta·W) ~ Beta(alpha + 1, j + 1): P(W <= T) is a
    regularized incomplete beta I, updated from j to j + 1 by a positive increment
    (DLMF 8.17.21). All sums have positive terms, scaled by the largest c_j (log space).
    """
    if a_load == 0:
        return QueueMetrics(
            agents=n, traffic=0.0, p_wait=0.0, service_level=1.0, asa_s=0.0, occupancy=0.0, abandon_rate=0.0
        )
    theta = 1.0 / patience_s
    alpha = n * patience_s / aht_s  # N·mu/theta
    x = a_load * patience_s / aht_s  # lambda/theta
    log_x = math.log(x)

    # Largest term: c_j grows while x/(alpha + j) > 1.
    j_peak = max(0, math.floor(x - alpha))
    log_c_peak = j_peak * log_x - _lgamma_ratio(alpha + 1.0, j_peak)

    def log_c_at(j: int) -> float:
        return j * log_x - _lgamma_ratio(alpha + 1.0, j)

    # Terms below e^-46 of the peak change nothing: when there are many of them before the
    # peak (far more contacts than agents, patient customers), start at the first one that
    # counts, with the running sums it needs taken from closed forms (digamma, incomplete beta).
    j = 0
    if j_peak > _SKIP_MIN_TERMS and log_c_at(0) - log_c_peak < _LOG_NEGLIGIBLE:
        lo, hi = 0, j_peak  # log c_j rises up to the peak
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if log_c_at(mid) - log_c_peak < _LOG_NEGLIGIBLE:
                lo = mid
            else:
                hi = mid
        j = hi
    log_c = log_c_at(j) if j else 0.0
    harmonic = _harmonic(alpha, j)  # becomes sum_{i=1}^{j+1} 1/(alpha + i)

    theta_t = theta * threshold_s
    sl_wanted = theta_t > 0  # else T = 0 (to double precision)
    if sl_wanted:
        log_u = -theta_t  # u_T = exp(-theta·T)
        log_1mu = math.log(-math.expm1(-theta_t))  # log(1 - u_T), precise for small theta·T
        u_t = math.exp(log_u)
        # G_j = I_u(alpha + 1, j + 1); increment D_b = u^(alpha+1) (1-u)^b / (b·B(alpha+1, b))
        g = math.exp((alpha + 1.0) * log_u) if j == 0 else _betainc(alpha + 1.0, j + 1.0, u_t)
        b1 = j + 1.0
        log_d = (
            (alpha + 1.0) * log_u + b1 * log_1mu - math.log(b1) - math.lgamma(b1) + _lgamma_ratio(alpha + 1.0, b1)
        )  # - log B(alpha + 1, b1)
        g_done = g >= 1.0
    s_w = s_ab = s_srv = s_asa = s_sl = 0.0
    start = j
    while True:
        w = math.exp(log_c - log_c_peak)
        inv = 1.0 / (alpha + j + 1.0)
        harmonic += inv
        srv = alpha * inv  # P(answered | j ahead)
        s_w += w
        s_ab += w * (j + 1.0) * inv
        s_srv += w * srv
        s_asa += w * srv * harmonic
        if sl_wanted:
            s_sl += w * srv * (1.0 - min(g, 1.0))
            if not g_done:  # G_{j+1} = G_j + D_{j+1}
                g += math.exp(log_d)
                log_d += log_1mu + math.log(alpha + 2.0 + j) - math.log(j + 2.0)
                g_done = g >= 1.0
        j += 1
        if j > j_peak and log_c - log_c_peak < _LOG_NEGLIGIBLE:
            break
        if j - start > MAX_SERIES_TERMS:
            raise ValueError("Erlang A series did not converge (traffic x patience too large)")
        log_c += log_x - math.log(alpha + j)

    log_s = log_c_peak + math.log(s_w)
    # P(W > 0) = S·B / (1 - B + S·B), evaluated through logs.
    if b >= 1.0:
        p_wait = 1.0
    elif b <= 0.0:
        p_wait = 0.0
    else:
        log_sb = log_s + math.log(b)
        p_wait = math.exp(log_sb - _log_add(math.log1p(-b), log_sb))
    share = p_wait / s_w  # weight of c_j / c_peak among arrivals
    p_ab = min(1.0, share * s_ab)
    p_served = (1.0 - p_wait) + share * s_srv
    asa = share * s_asa / theta / p_served if p_served > 0 else None
    sl = (1.0 - p_wait) + share * s_sl if sl_wanted else 1.0 - p_wait
    occ = (a_load * (1.0 - p_ab) / n) if n > 0 else 0.0
    return QueueMetrics(
        agents=n,
        traffic=a_load,
        p_wait=p_wait,
        service_level=min(1.0, max(0.0, sl)),
        asa_s=asa,
        occupancy=min(1.0, max(0.0, occ)),
        abandon_rate=max(0.0, p_ab),
    )


def erlang_a_metrics(agents: int, traffic: float, aht_s: float, threshold_s: float, patience_s: float) -> QueueMetrics:
    """Erlang A (M/M/N+M): exponential service (mean AHT), exponential patience (mean
    ``patience_s``). Always stable, for any N >= 0. ``service_level`` = share of offered
    contacts answered within T; ``abandon_rate`` = share of offered contacts that abandon;
    ``asa_s`` = mean wait of answered contacts (None when nobody is answered, N = 0)."""
    agents = _agents(agents)
    traffic = _non_negative("traffic", traffic)
    aht_s = _positive("aht_s", aht_s)
    threshold_s = _non_negative("threshold_s", threshold_s)
    patience_s = _positive("patience_s", patience_s)
    return _erlang_a_from_b(agents, traffic, erlang_b(agents, traffic), aht_s, threshold_s, patience_s)


def metrics(
    agents: int, traffic: float, aht_s: float, threshold_s: float, patience_s: float | None = None
) -> QueueMetrics:
    """Erlang C figures, or Erlang A figures when ``patience_s`` is given."""
    if patience_s is None:
        return erlang_c_metrics(agents, traffic, aht_s, threshold_s)
    return erlang_a_metrics(agents, traffic, aht_s, threshold_s, patience_s)


# --------------------------------------------------------------------------- staffing


def agents_for_occupancy(traffic: float, max_occupancy: float) -> int:
    """Smallest N with A/N <= max occupancy (planned occupancy uses the *offered* load)."""
    traffic = _non_negative("traffic", traffic)
    max_occupancy = _finite("max_occupancy", max_occupancy)
    if not 0 < max_occupancy <= 1:
        raise ValueError(f"max_occupancy must be in (0, 1], got {max_occupancy:g}")
    return _ceil(traffic / max_occupancy)


def scheduled_agents(on_phone: int, shrinkage: float) -> int:
    """Agents to schedule so that ``on_phone`` remain after shrinkage: ceil(N / (1 - s))."""
    on_phone = _agents(on_phone)
    shrinkage = _finite("shrinkage", shrinkage)
    if not 0 <= shrinkage < 1:
        raise ValueError(f"shrinkage must be in [0, 1), got {shrinkage:g}")
    return _ceil(on_phone / (1.0 - shrinkage))


def _check_target(target_sl: float) -> float:
    target_sl = _finite("target_sl", target_sl)
    if not 0 < target_sl < 1:
        raise ValueError(f"target_sl must be in (0, 1) (a ratio, e.g. 0.8), got {target_sl:g}")
    return target_sl


def _search_limit(a: float) -> int:
    """Where a search without ``max_agents`` gives up (far above any attainable requirement)."""
    return int(a + 60.0 * math.sqrt(a) + 1000)


def _min_agents(meets: Callable[[int], bool], lo: int, limit: int) -> int | None:
    """Smallest N in (lo, limit] with meets(N), for a predicate known false at ``lo`` that never
    turns false again as N grows; None when meets(limit) is false. A doubling (lo + 1, lo + 3,
    lo + 7, ... clamped at ``limit``), then a bisection: O(log(N - lo)) calls of ``meets``."""
    if lo >= limit:
        return None
    step = 1
    hi = lo + 1
    while not meets(hi):
        if hi >= limit:
            return None
        lo = hi
        step *= 2
        hi = min(lo + step, limit)
    while hi - lo > 1:  # invariant: lo fails, hi meets
        mid = (lo + hi) // 2
        if meets(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _capped(found: int | None, a: float, max_agents: int | None, what: str) -> int | OverCap:
    if found is not None:
        return found
    if max_agents is not None:
        return OverCap(max_agents)
    raise ValueError(f"{what} not reachable with {_search_limit(a)} agents")


def _required_c(a: float, aht_s: float, threshold_s: float, target_sl: float, max_agents: int | None) -> int | OverCap:
    """Smallest N meeting the service-level target under Erlang C. Every N <= A is unstable
    (SL 0), so the search starts above floor(A): A >= max_agents is over the cap at once."""
    if a == 0:
        return 0
    lo = math.floor(a)
    limit = _search_limit(a) if max_agents is None else max_agents
    if lo >= limit:  # O(1), before any Erlang B
        return _capped(None, a, max_agents, f"service level {target_sl:g}")
    b_of = _ErlangB(a)

    def meets(n: int) -> bool:
        return _sl_c(n, a, _c_from_b(n, a, b_of(n)), aht_s, threshold_s) >= target_sl

    return _capped(_min_agents(meets, lo, limit), a, max_agents, f"service level {target_sl:g}")


def _required_a(
    a: float, aht_s: float, threshold_s: float, target_sl: float, patience_s: float, max_agents: int | None
) -> int | OverCap:
    """Smallest N meeting the service-level target under Erlang A. SL <= P(answered) <= N/A
    rules out every N < target·A; service level rises with N."""
    if a == 0:
        return 0
    b_of = _ErlangB(a)

    def meets(n: int) -> bool:
        m = _erlang_a_from_b(n, a, b_of(n), aht_s, threshold_s, patience_s)
        return m.service_level >= target_sl

    lo = max(0, math.floor(target_sl * a) - 1)  # SL(lo) <= lo/A < target
    limit = _search_limit(a) if max_agents is None else max_agents
    return _capped(_min_agents(meets, lo, limit), a, max_agents, f"service level {target_sl:g}")


def _agents_for_abandon(
    a: float, aht_s: float, patience_s: float, max_abandon_rate: float, max_agents: int | None
) -> int | OverCap:
    """Smallest N whose Erlang A abandon rate is at most the cap. P(abandon) >= 1 - N/A rules
    out every N < (1 - cap)·A; abandonment falls as N grows."""
    if a == 0:
        return 0
    b_of = _ErlangB(a)

    def meets(n: int) -> bool:
        m = _erlang_a_from_b(n, a, b_of(n), aht_s, 0.0, patience_s)
        return (m.abandon_rate or 0.0) <= max_abandon_rate

    lo = max(0, math.floor((1.0 - max_abandon_rate) * a) - 1)
    limit = _search_limit(a) if max_agents is None else max_agents
    return _capped(_min_agents(meets, lo, limit), a, max_agents, f"abandon rate {max_abandon_rate:g}")


def _check_abandon(max_abandon_rate: float | None, patience_s: float | None) -> float | None:
    if max_abandon_rate is None:
        return None
    if patience_s is None:
        raise ValueError("max_abandon_rate needs patience_s (Erlang C has no abandonment)")
    max_abandon_rate = _finite("max_abandon_rate", max_abandon_rate)
    if not 0 < max_abandon_rate < 1:
        raise ValueError(f"max_abandon_rate must be in (0, 1), got {max_abandon_rate:g}")
    return max_abandon_rate


def _required_sl(
    a: float, aht_s: float, threshold_s: float, target_sl: float, patience_s: float | None, max_agents: int | None
) -> int | OverCap:
    if patience_s is None:
        return _required_c(a, aht_s, threshold_s, target_sl, max_agents)
    return _required_a(a, aht_s, threshold_s, target_sl, patience_s, max_agents)


def _occupancy_capped(a: float, max_occupancy: float, max_agents: int | None) -> int | OverCap:
    n = agents_for_occupancy(a, max_occupancy)
    return OverCap(max_agents) if max_agents is not None and n > max_agents else n


@overload
def required_agents(
    traffic: float,
    aht_s: float,
    threshold_s: float,
    target_sl: float,
    *,
    max_occupancy: float | None = None,
    patience_s: float | None = None,
    max_abandon_rate: float | None = None,
    max_agents: None = None,
) -> int: ...
@overload
def required_agents(
    traffic: float,
    aht_s: float,
    threshold_s: float,
    target_sl: float,
    *,
    max_occupancy: float | None = None,
    patience_s: float | None = None,
    max_abandon_rate: float | None = None,
    max_agents: int,
) -> int | OverCap: ...
def required_agents(
    traffic: float,
    aht_s: float,
    threshold_s: float,
    target_sl: float,
    *,
    max_occupancy: float | None = None,
    patience_s: float | None = None,
    max_abandon_rate: float | None = None,
    max_agents: int | None = None,
) -> int | OverCap:
    """Minimum agents on the phones whose service level (share of offered contacts answered
    within ``threshold_s``) is at least ``target_sl`` and, with ``max_occupancy``, whose
    planned occupancy A/N is at most that. Erlang C, or Erlang A with ``patience_s`` (then
    ``max_abandon_rate`` optionally caps the abandon rate too). 0 without traffic.

    With ``max_agents``, a requirement above it is answered ``OverCap(max_agents)`` (under
    Erlang C at once when A >= max_agents); without, an unreachable target raises ValueError.

    For the live worker: ``traffic`` = forecast offered x forecast AHT / interval seconds, or
    rolling arrival rate (contacts/s) x rolling AHT."""
    traffic = _non_negative("traffic", traffic)
    aht_s = _positive("aht_s", aht_s)
    threshold_s = _non_negative("threshold_s", threshold_s)
    target_sl = _check_target(target_sl)
    if patience_s is not None:
        patience_s = _positive("patience_s", patience_s)
    max_abandon_rate = _check_abandon(max_abandon_rate, patience_s)
    if max_agents is not None:
        max_agents = _max_agents(max_agents)
    n_occ = 0
    if max_occupancy is not None:  # O(1): settles an over-cap load before a search
        capped = _occupancy_capped(traffic, max_occupancy, max_agents)
        if isinstance(capped, OverCap):
            return capped
        n_occ = capped
    n = _required_sl(traffic, aht_s, threshold_s, target_sl, patience_s, max_agents)
    if isinstance(n, OverCap):
        return n
    if max_abandon_rate is not None:
        assert patience_s is not None
        n_ab = _agents_for_abandon(traffic, aht_s, patience_s, max_abandon_rate, max_agents)
        if isinstance(n_ab, OverCap):
            return n_ab
        n = max(n, n_ab)
    return max(n, n_occ)


def staffing_plan(
    *,
    offered: float,
    interval_s: float,
    aht_s: float,
    threshold_s: float,
    target_sl: float,
    max_occupancy: float | None = None,
    shrinkage: float = 0.0,
    patience_s: float | None = None,
    max_abandon_rate: float | None = None,
    rows_below: int = 2,
    rows_above: int = 3,
    max_agents: int | None = None,
) -> StaffingPlan:
    """Required and scheduled agents for one interval, plus rows from required - ``rows_below``
    to required + ``rows_above``. Erlang C rows start no lower than the first stable N,
    floor(A) + 1 (= ceil(A) unless A is whole); Erlang A rows no lower than 1 agent.

    With ``max_agents``, a requirement above it makes the plan over the cap: ``OverCap`` for
    the required and scheduled agents (and for each condition that is over it), no rows."""
    a = traffic_intensity(offered, aht_s, interval_s)
    threshold_s = _non_negative("threshold_s", threshold_s)
    target_sl = _check_target(target_sl)
    if patience_s is not None:
        patience_s = _positive("patience_s", patience_s)
    max_abandon_rate = _check_abandon(max_abandon_rate, patience_s)
    if max_agents is not None:
        max_agents = _max_agents(max_agents)
    shrinkage = _finite("shrinkage", shrinkage)
    if not 0 <= shrinkage < 1:
        raise ValueError(f"shrinkage must be in [0, 1), got {shrinkage:g}")
    n_occ = _occupancy_capped(a, max_occupancy, max_agents) if max_occupancy is not None else 0
    n_sl = _required_sl(a, aht_s, threshold_s, target_sl, patience_s, max_agents)
    n_ab: int | OverCap = 0
    if max_abandon_rate is not None:
        assert patience_s is not None
        n_ab = _agents_for_abandon(a, aht_s, patience_s, max_abandon_rate, max_agents)
    model = "erlang_c" if patience_s is None else "erlang_a"
    over = [
        name
        for name, n in (("service_level", n_sl), ("max_abandon", n_ab), ("max_occupancy", n_occ))
        if isinstance(n, OverCap)
    ]
    if over:
        assert max_agents is not None
        cap = OverCap(max_agents)
        return StaffingPlan(
            model=model,
            traffic=a,
            required_agents=cap,
            scheduled_agents=cap,
            agents_for_service_level=n_sl,
            agents_for_abandon=n_ab,
            agents_for_occupancy=n_occ,
            binding=over[0],
            rows=(),
            max_agents=max_agents,
        )
    assert isinstance(n_sl, int) and isinstance(n_ab, int) and isinstance(n_occ, int)
    required = max(n_sl, n_ab, n_occ)  # each condition holds from its own minimum on
    scheduled = scheduled_agents(required, shrinkage)
    if a == 0:
        binding = "no_traffic"
    elif required == n_sl:
        binding = "service_level"
    else:
        binding = "max_abandon" if n_ab >= n_occ else "max_occupancy"

    floor_row = 1 if patience_s is not None or a == 0 else math.floor(a) + 1
    first = max(floor_row, required - rows_below)
    last = max(first, required + rows_above)
    rows: list[QueueMetrics] = []
    for n, b in _erlang_b_iter(a, first):
        if n > last:
            break
        rows.append(
            _metrics_c(n, a, b, aht_s, threshold_s)
            if patience_s is None
            else _erlang_a_from_b(n, a, b, aht_s, threshold_s, patience_s)
        )
    return StaffingPlan(
        model=model,
        traffic=a,
        required_agents=required,
        scheduled_agents=scheduled,
        agents_for_service_level=n_sl,
        agents_for_abandon=n_ab,
        agents_for_occupancy=n_occ,
        binding=binding,
        rows=tuple(rows),
        max_agents=max_agents,
    )
