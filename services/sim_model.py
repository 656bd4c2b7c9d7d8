"""The contact-center model behind ``floorwatch simulate``: a seeded discrete-event simulation.

Simulated time is integer epoch milliseconds; a heap orders what happens next, so events come
out in time order and the same seed, start and duration give the same events. All randomness
comes from ``random.Random`` instances seeded from the run seed (one stream per concern, so a
change in, say, agent behaviour does not move the arrivals).

The model:

* arrivals per queue are a non-homogeneous Poisson process (rate constant per minute) from an
  intraday profile with a morning and an after-lunch peak, times a random day factor and a
  random factor per interval (the forecast does not know these);
* agents (full-time, and part-timers for the peaks) have fixed shift starts chosen greedily to
  follow the demand curve, and the volume is scaled to that staffing; each day they get
  a published schedule (breaks, lunch, sometimes a meeting, training or coaching) and then
  behave like people: late logins, breaks that run over, unscheduled aux, early logouts;
* routing is FIFO by offered time across the queues an agent serves, to the longest idle agent,
  else (chat) to the agent longest with spare capacity; an agent has one contact at a time, or
  up to its ``max_concurrent`` chats (1 to 3; then nothing of another channel); each contact
  rings for a few seconds, talks (lognormal), sometimes holds, transfers or not, wraps up;
* customers abandon after a lognormal patience (a few hang up within seconds), voice callers
  may take a callback offer (overflow ``key``), queues overflow after a timeout (``timeout``)
  or at once when nobody serving them is logged in (``no_agents``), unresolved or lost
  contacts call back within hours (repeat callers), some customers answer a survey.

``simulate`` runs a bounded span and returns the events with the truth: the figures those
events imply, computed from the model's own contact records and state timelines.

Truth definitions beyond docs/metrics.md and docs/adherence.md (W = ``fcr.window_hours``; contacts are ordered by
``(offered time, contact_id)``, and only the contacts of the run exist):

* a *customer contact* is an offered contact with a ``customer`` that is not a transfer leg (no
  ``parent_contact_id``); a leg belongs to the chain of its root (parent links, transitively);
* it is a *repeat contact* when the same customer has an earlier customer contact offered at
  most W before it; it is *FCR eligible* when it was answered (every window counts as closed:
  truth is read long after the run); it is *resolved at first contact* when eligible, no
  wrap-up in its chain says ``resolved: false`` (no wrap-up, or one without ``resolved``, is not
  false) and the same customer has no later customer contact (answered or not) offered at most
  W after it. The simulator's transferring agent's wrap-up carries no ``resolved``: the leg
  decides;
* all four counts (``customer_contacts``, ``repeat_contacts``, ``fcr_eligible``,
  ``fcr_resolved``) go to the queue and offered interval and day of the customer contact
  (STATS ``fcr``, ``repeat_rate``); ``fcr`` per queue is their total over the run;
* ``quality`` per agent and local day: FCR of the customer contacts the agent answered (day of
  their offered time) and the surveys carrying the agent's ``agent_id`` (day of the offered time
  of the surveyed contact); per team: the sum over the team's agents. ``csat`` per queue counts
  surveys by the survey's queue, and the interval and day figures carry the same surveys in the
  offered interval of the surveyed contact (``surveys``, ``csat_avg``, ``csat_satisfied``);
  ``satisfied`` = score 4 or 5;
* ``worked_s`` counts working states over the whole local date, scheduled or not;
* ``agent_time``, ``performance``, ``teams``, ``floor`` (docs/metrics.md) look at the run from
  after the end of the local day of its end: every agent's last state lasts until that day's
  end, and every local date up to it counts whole (from its midnight: the schedules published
  at the start cover the whole day). Agent time goes to the interval in which it happens (each
  wall-clock second once, however many chats the agent holds); contact figures (the handled
  contacts an agent answered, each with its own talk, hold and wrap) and surveys go to the
  offered interval; adherence per interval is the day's figures split by the instant. Per
  team and for the floor (every agent): the agents' ms and counts summed, then the ratios;
* ``channels``: the sums of the counts of the channel's queues, with the formula the queues
  with contacts there share, else ``queue_defaults.sl_formula`` and ``mixed_rules``.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from floorwatch.config import DEFAULT_ACTIVITY_STATES, QueueConfig, Settings
from floorwatch.domain.intervals import (
    MINUTE_MS,
    day_bounds_ms,
    day_interval_starts,
    interval_start_ms,
    iso,
    local_date,
)
from floorwatch.domain.queue_metrics import Counts, stats
from floorwatch.events import from_ms, parse_event, to_ms

SECOND_MS = 1_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

OUT, AVAIL = ("logged_out", None), ("available", None)
WORKING_STATES = frozenset({"available", "on_contact", "wrap_up"})
PUBLISH_NEXT_DAY_MIN = 22 * 60  # local time at which tomorrow's schedules and forecasts go out
REPEAT_EXPIRY_MS = 12 * HOUR_MS
PART_TIME_SHARE = 0.25
PART_TIME_MIN = 300
LUNCH_AFTER_SLOTS = 8  # nominal lunch 4 h into a full shift
CHAT_CONCURRENCY = (1, 2, 3)  # chats an agent serving a chat queue holds at once ...
CHAT_CONCURRENCY_WEIGHTS = (0.2, 0.45, 0.35)  # ... and how many agents hold that many
CHAT_EFFECTIVE_CONCURRENCY = 2.0  # chats per agent busy on chat, on average (a few less than they may hold)


@dataclass(frozen=True)
class Behaviour:
    """Rates of human behaviour on top of the schedule, and the offered load."""

    late_login_rate: float = 0.15  # share of shifts that start with a late login
    break_overrun_rate: float = 0.2  # share of breaks and lunches that run over
    unscheduled_aux_per_hour: float = 0.12  # personal aux taken per worked hour
    early_logout_rate: float = 0.06  # share of shifts that end with an early logout
    load: float = 0.9  # busiest half hour: expected workload (Erlangs) / agents scheduled to work


@dataclass(frozen=True)
class ChannelModel:
    """Customer and handling behaviour of one channel (times in seconds)."""

    talk_median_s: float
    talk_sigma: float
    hold_rate: float
    hold_median_s: float
    wrap_median_s: float
    patience_median_s: float | None  # None: customers never abandon
    patience_sigma: float
    quick_hangup_rate: float  # hang up within the short-abandon threshold
    overflow_after_s: float
    callback_offer_s: float | None  # wait at which a callback is offered (taking it = overflow "key")
    callback_take_rate: float
    transfer_rate: float
    survey_rate: float
    ring_s: tuple[float, float]
    volume_weight: float
    peaks: tuple[tuple[float, float, float], ...]  # (local hour, width h, amplitude)
    base_level: float


CHANNELS: dict[str, ChannelModel] = {
    "voice": ChannelModel(
        talk_median_s=210,
        talk_sigma=0.6,
        hold_rate=0.22,
        hold_median_s=40,
        wrap_median_s=25,
        patience_median_s=120,
        patience_sigma=0.9,
        quick_hangup_rate=0.05,
        overflow_after_s=120,
        callback_offer_s=45,
        callback_take_rate=0.3,
        transfer_rate=0.06,
        survey_rate=0.22,
        ring_s=(2, 7),
        volume_weight=1.0,
        peaks=((10.5, 1.3, 1.0), (14.75, 1.5, 0.85), (19.5, 1.6, 0.25)),
        base_level=0.04,
    ),
    "chat": ChannelModel(
        talk_median_s=420,
        talk_sigma=0.55,
        hold_rate=0.0,
        hold_median_s=0,
        wrap_median_s=40,
        patience_median_s=200,
        patience_sigma=0.8,
        quick_hangup_rate=0.06,
        overflow_after_s=240,
        callback_offer_s=None,
        callback_take_rate=0,
        transfer_rate=0.04,
        survey_rate=0.3,
        ring_s=(1, 4),
        volume_weight=0.6,
        peaks=((11.0, 1.2, 0.7), (15.0, 1.3, 0.8), (20.5, 1.5, 0.7)),
        base_level=0.06,
    ),
    "email": ChannelModel(
        talk_median_s=540,
        talk_sigma=0.5,
        hold_rate=0.0,
        hold_median_s=0,
        wrap_median_s=60,
        patience_median_s=None,
        patience_sigma=0,
        quick_hangup_rate=0,
        overflow_after_s=3600,
        callback_offer_s=None,
        callback_take_rate=0,
        transfer_rate=0.04,
        survey_rate=0.1,
        ring_s=(1, 3),
        volume_weight=0.3,
        peaks=((10.0, 2.0, 1.0), (15.0, 2.0, 0.8)),
        base_level=0.1,
    ),
    "callback": ChannelModel(
        talk_median_s=240,
        talk_sigma=0.6,
        hold_rate=0.2,
        hold_median_s=40,
        wrap_median_s=30,
        patience_median_s=None,
        patience_sigma=0,
        quick_hangup_rate=0,
        overflow_after_s=1800,
        callback_offer_s=None,
        callback_take_rate=0,
        transfer_rate=0.04,
        survey_rate=0.2,
        ring_s=(3, 10),
        volume_weight=0.2,
        peaks=((11.0, 1.5, 1.0), (15.5, 1.5, 1.0)),
        base_level=0.0,
    ),
}
QUEUE_AHT_FACTORS = (1.0, 1.3, 0.9, 1.15)  # by position in the queue list
ASIDE_ACTIVITIES = (("meeting", 0.4), ("training", 0.35), ("coaching", 0.25))

FIRST_NAMES = (
    "Wei",
    "Li",
    "Mei",
    "Jun",
    "Xin",
    "Hao",
    "Lin",
    "Yan",
    "Ana",
    "Ben",
    "Chloe",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kira",
    "Luca",
    "Maya",
    "Noah",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Yusuf",
    "Zoe",
)
LAST_NAMES = (
    "Wang",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Zhao",
    "Huang",
    "Zhou",
    "Wu",
    "Xu",
    "Sun",
    "Ma",
    "Garcia",
    "Smith",
    "Muller",
    "Rossi",
    "Kowalski",
    "Novak",
    "Silva",
    "Tanaka",
    "Kim",
    "Nguyen",
    "Patel",
    "Haddad",
    "Jensen",
    "Okafor",
    "Ivanova",
    "Dubois",
    "Larsen",
    "Moreau",
)


@dataclass(frozen=True)
class AgentSpec:
    agent_id: str
    name: str
    team: str
    queues: tuple[str, ...]
    aht_factor: float = 1.0  # multiplies talk and wrap time
    # channel -> contacts held at once (agent.profile ``max_concurrent``); a channel not named: 1
    max_concurrent: dict[str, int] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class DayPlan:
    """One agent's day: the published schedule and what the agent will actually do.

    ``actions`` are ``(t_ms, kind, arg)`` in time order; kind ``login``/``available`` (want to
    take contacts), ``aux`` (arg = reason), ``logout``, ``personal`` (arg = duration ms: an
    unscheduled aux taken as soon as the agent is free, ignored unless the agent wants work).
    """

    activities: tuple[tuple[int, int, str], ...]  # (start_ms, end_ms, activity)
    actions: tuple[tuple[int, str, Any], ...]


@dataclass(frozen=True)
class ContactPlan:
    """How one contact will go if it gets the chance; times in ms."""

    customer: str | None
    patience_ms: int | None  # None: never abandons
    overflow_after_ms: int
    announce_ms: int  # delay before an overflow when no agent of the queue is logged in
    callback_ms: int | None  # wait at which the customer takes a callback offer (overflow "key")
    ring_ms: int
    talk_ms: int
    holds: tuple[tuple[int, int], ...] = ()  # (talk ms before the hold, hold ms), increasing
    wrap_ms: int = 0
    transfer_to: str | None = None
    resolved: bool | None = True  # None: the wrap-up does not say (a transferring agent's)
    survey_delay_ms: int | None = None  # after the end of the conversation


class Sampler(Protocol):
    """Every decision the engine does not make itself (replaceable in tests)."""

    def agents(self) -> list[AgentSpec]: ...

    def day_plan(self, agent: AgentSpec, day: date) -> DayPlan: ...

    def forecast(self, queue: QueueConfig, day: date) -> list[tuple[int, float, float]]: ...

    def next_arrival_ms(self, queue: QueueConfig, after_ms: int) -> int | None: ...

    def contact_plan(
        self, queue: QueueConfig, t_ms: int, customer: str | None = None, transferred: bool = False
    ) -> ContactPlan: ...

    def survey_score(self, resolved: bool, wait_ms: int) -> int: ...

    def contact_closed(self, queue_id: str, customer: str | None, kind: str, t_ms: int) -> None: ...


def sim_queues(settings: Settings) -> list[QueueConfig]:
    """The queues the simulator feeds: the configured ones, or one ``general`` voice queue."""
    return list(settings.queues) or [settings.queue("general")]


def local_ms(day: date, minutes: float, settings: Settings) -> int:
    """Epoch ms of a local wall time ``minutes`` after midnight of ``day``."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
    return to_ms(wall.replace(tzinfo=settings.tz))


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(sigma * rng.gauss(0.0, 1.0))


def _lognormal_ms(rng: random.Random, median_s: float, sigma: float, lo_s: float, hi_s: float) -> int:
    """A lognormal duration clamped to ``[lo_s, hi_s]``, in whole ms."""
    return int(min(hi_s, max(lo_s, _lognormal(rng, median_s, sigma))) * SECOND_MS)


def _lognormal_mean(median: float, sigma: float) -> float:
    return median * math.exp(sigma * sigma / 2)


class RandomSampler:
    """The realistic, seeded model of customers, workload and agents."""

    def __init__(
        self,
        settings: Settings,
        seed: int,
        agents: int,
        behaviour: Behaviour | None = None,
    ) -> None:
        self.settings = settings
        self.seed = seed
        self.n_agents = agents
        self.behaviour = behaviour or Behaviour()
        self.queues = sim_queues(settings)
        self.queue_index = {q.id: i for i, q in enumerate(self.queues)}
        self.tz = settings.tz
        self._rng_contacts = random.Random(f"{seed}:contacts")
        self._rng_arrivals = {q.id: random.Random(f"{seed}:arrivals:{q.id}") for q in self.queues}
        self._arrival_t: dict[str, float] = {}
        self._rate_cache: dict[str, tuple[int, float]] = {}
        self._noise_cache: dict[str, tuple[int, float]] = {}
        self._day_factor_cache: dict[date, float] = {}
        self._repeats: dict[str, list[tuple[int, int, str]]] = {q.id: [] for q in self.queues}
        self._repeat_seq = 0
        self._customers = 0
        total_weight = sum(self._model(q).volume_weight for q in self.queues) or 1.0
        self.share = {q.id: self._model(q).volume_weight / total_weight for q in self.queues}
        self.aht_s = {q.id: self._expected_aht_s(q) for q in self.queues}
        self.scale = 1.0
        self._shifts: dict[str, tuple[int, int, int]] = {}  # agent -> (start, length, lunch) in minutes
        self._coverage: list[float] = []  # agents working per half hour of the day, lunch excluded
        self._agents = self._build_agents()
        self.scale = self._volume_scale()

    # -- workload ---------------------------------------------------------------------------

    def _model(self, queue: QueueConfig) -> ChannelModel:
        return CHANNELS[queue.channel]

    def _talk_median_s(self, queue: QueueConfig) -> float:
        factor = QUEUE_AHT_FACTORS[self.queue_index[queue.id] % len(QUEUE_AHT_FACTORS)]
        return self._model(queue).talk_median_s * factor

    def _expected_aht_s(self, queue: QueueConfig) -> float:
        m = self._model(queue)
        talk = _lognormal_mean(self._talk_median_s(queue), m.talk_sigma)
        hold = m.hold_rate * 1.3 * _lognormal_mean(m.hold_median_s, 0.6)
        return talk + hold + _lognormal_mean(m.wrap_median_s, 0.5)

    def profile(self, queue: QueueConfig, hour: float) -> float:
        """Relative arrival intensity at a local hour of the day (no unit)."""
        m = self._model(queue)
        shift_h = 0.25 * (self.queue_index[queue.id] % 3 - 1)
        day = 0.15 / ((1 + math.exp(-2 * (hour - 7.5))) * (1 + math.exp(2 * (hour - 22))))
        level = m.base_level + day
        for center, width, amp in m.peaks:
            level += amp * math.exp(-0.5 * ((hour - center - shift_h) / width) ** 2)
        return level

    def _volume_scale(self) -> float:
        """Arrivals per hour per unit of profile so that the tightest busy half hour has ``load``
        Erlangs per agent scheduled to work (half hours with little demand or nobody scheduled
        are not considered)."""
        workload_h = {q.id: self.share[q.id] * self.aht_s[q.id] / 3600 for q in self.queues}
        erlangs = [sum(workload_h[q.id] * self.profile(q, (k + 0.5) / 2) for q in self.queues) for k in range(48)]
        busy = max(erlangs) * 0.25
        ratios = [self._coverage[k] / e for k, e in enumerate(erlangs) if e >= busy and self._coverage[k] > 0]
        return self.behaviour.load * min(ratios) if ratios else 0.0

    def rate_per_h(self, queue: QueueConfig, hour: float) -> float:
        """Forecast arrivals per hour at a local hour (a chat queue's agents hold several chats
        at once: it gets that many more for the same staffing)."""
        return self.scale * self.share[queue.id] * self.profile(queue, hour) * self._concurrency(queue)

    def _concurrency(self, queue: QueueConfig) -> float:
        return CHAT_EFFECTIVE_CONCURRENCY if queue.channel == "chat" else 1.0

    def forecast(self, queue: QueueConfig, day: date) -> list[tuple[int, float, float]]:
        im = self.settings.interval_minutes
        out = []
        for start_ms in day_interval_starts(day, self.tz, im):
            local = from_ms(start_ms).astimezone(self.tz)
            h0 = local.hour + local.minute / 60
            offered = sum(self.rate_per_h(queue, h0 + (m + 0.5) / 60) for m in range(im)) / 60
            out.append((start_ms, round(offered, 2), round(self.aht_s[queue.id], 1)))
        return out

    # -- agents -----------------------------------------------------------------------------

    def _build_agents(self) -> list[AgentSpec]:
        rng = random.Random(f"{self.seed}:agents")
        teams = [t.id for t in self.settings.teams] or ["team-1", "team-2"]
        width = max(3, len(str(self.n_agents)))
        shapes = []
        for _ in range(self.n_agents):
            if self.n_agents >= 8 and rng.random() < PART_TIME_SHARE:
                shapes.append((PART_TIME_MIN, 0))
            else:
                lunch = 60 if rng.random() < 0.5 else 30
                shapes.append((480 + lunch, lunch))
        specs = []
        # a stream of its own, so that concurrency does not move the roster drawn before it
        rng_concurrency = random.Random(f"{self.seed}:concurrency")
        chat_queues = {q.id for q in self.queues if q.channel == "chat"}
        for i, (start_min, primary) in enumerate(self._shift_starts(shapes)):
            agent_id = f"agent-{i + 1:0{width}d}"
            length_min, lunch_min = shapes[i]
            self._shifts[agent_id] = (start_min, length_min, lunch_min)
            if start_min < 6 * 60 or start_min + length_min > 22 * 60:
                skills = [primary.id] + [q.id for q in self.queues if q.id != primary.id]
            else:
                skills = [primary.id]
                others = [q for q in self.queues if q.id != primary.id]
                if others and rng.random() < 0.45:
                    same = [q for q in others if q.channel == primary.channel]
                    pool = same if same and rng.random() < 0.8 else others
                    skills.append(rng.choice(pool).id)
            team = teams[self.queue_index[primary.id] % len(teams)]
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            factor = min(1.35, max(0.75, rng.lognormvariate(0.0, 0.12)))
            concurrent = rng_concurrency.choices(CHAT_CONCURRENCY, weights=CHAT_CONCURRENCY_WEIGHTS)[0]
            max_concurrent = {"chat": concurrent} if chat_queues.intersection(skills) else {}
            specs.append(AgentSpec(agent_id, name, team, tuple(skills), round(factor, 3), max_concurrent))
        return specs

    def _shift_starts(self, shapes: list[tuple[int, int]]) -> list[tuple[int, QueueConfig]]:
        """(shift start in local minutes on a 30-minute grid, primary queue) per agent.

        ``shapes`` are (shift length, lunch) in minutes. Greedy least squares: each agent takes
        the start and queue with the largest demand not yet covered (over-coverage counts
        against), with a floor of agents on every half hour (night shifts serve every queue).
        """
        slots = 48
        demand = {
            q.id: [self.rate_per_h(q, (k + 0.5) / 2) * self.aht_s[q.id] / self._concurrency(q) for k in range(slots)]
            for q in self.queues
        }
        total = sum(sum(d) for d in demand.values()) or 1.0
        capacity = sum((length - lunch) // 30 for length, lunch in shapes)
        required = {q: [x / total * capacity for x in d] for q, d in demand.items()}
        staffed = {q.id: [0.0] * slots for q in self.queues}
        floor = 2 if len(shapes) >= 60 else 1 if len(shapes) >= 8 else 0
        on_floor = [0] * slots
        out = []
        for length, lunch in shapes:
            n_slots, lunch0, lunch1 = length // 30, LUNCH_AFTER_SLOTS, LUNCH_AFTER_SLOTS + lunch // 30
            floor_gaps = [3.0 * max(0, floor - n) for n in on_floor]
            best, best_queue, best_gap = 0, self.queues[0], -math.inf
            for q in self.queues:
                prefix = [0.0]
                for r, g, f in zip(required[q.id], staffed[q.id], floor_gaps, strict=True):
                    prefix.append(prefix[-1] + r - g + f)
                for s in range(slots - n_slots + 1):
                    gap = prefix[s + n_slots] - prefix[s] - (prefix[s + lunch1] - prefix[s + lunch0])
                    if gap > best_gap + 1e-9:
                        best, best_queue, best_gap = s, q, gap
            for k in range(best, best + n_slots):
                if not best + lunch0 <= k < best + lunch1:
                    staffed[best_queue.id][k] += 1
                    on_floor[k] += 1
            out.append((best * 30, best_queue))
        self._coverage = [float(n) for n in on_floor]
        return out

    def agents(self) -> list[AgentSpec]:
        return list(self._agents)

    def day_plan(self, agent: AgentSpec, day: date) -> DayPlan:
        rng = random.Random(f"{self.seed}:day:{agent.agent_id}:{day.isoformat()}")
        start, length_min, lunch_min = self._shifts[agent.agent_id]
        end = start + length_min
        if lunch_min:
            b1 = start + 120 + rng.choice((-15, 0, 15, 30))
            lunch = max(b1 + 75, start + LUNCH_AFTER_SLOTS * 30 + rng.choice((-30, -15, 0, 15, 30)))
            b2 = min(lunch + lunch_min + 120 + rng.choice((-15, 0, 15)), end - 60)
            asides = [(b1, b1 + 15, "break"), (lunch, lunch + lunch_min, "lunch"), (b2, b2 + 15, "break")]
        else:
            b1 = start + (length_min // 2 // 15) * 15 + rng.choice((-15, 0, 15))
            asides = [(b1, b1 + 15, "break")]
        if rng.random() < 0.18:
            r, acc = rng.random(), 0.0
            kind = ASIDE_ACTIVITIES[-1][0]
            for name, p in ASIDE_ACTIVITIES:
                acc += p
                if r < acc:
                    kind = name
                    break
            length = rng.choice((60, 90)) if kind == "training" else 30
            bounds = [start] + [m for a in asides for m in a[:2]] + [end]
            slots = []
            for lo, hi in zip(bounds[::2], bounds[1::2], strict=True):
                slots += [m for m in range(lo + 30, hi - 30 - length + 1, 15)]
            if slots:
                s = rng.choice(slots)
                asides.append((s, s + length, kind))
                asides.sort()
        activities = []
        cursor = start
        for s, e, kind in asides:
            if s > cursor:
                activities.append((cursor, s, "work"))
            activities.append((s, e, kind))
            cursor = e
        if end > cursor:
            activities.append((cursor, end, "work"))
        timed: list[tuple[int, int, str]] = []
        for s, e, kind in activities:
            s_ms = timed[-1][1] if timed else local_ms(day, s, self.settings)
            e_ms = local_ms(day, e, self.settings)
            if e_ms > s_ms:  # a boundary in a DST gap can collapse an activity
                timed.append((s_ms, e_ms, kind))
        return DayPlan(tuple(timed), self._actions(rng, timed))

    def _actions(self, rng: random.Random, activities: list[tuple[int, int, str]]) -> tuple:
        b = self.behaviour
        shift_start, shift_end = activities[0][0], activities[-1][1]
        if rng.random() < b.late_login_rate:
            login = shift_start + int(min(1800.0, 60 + _lognormal(rng, 240, 0.7)) * SECOND_MS)
        else:
            login = shift_start + int(rng.uniform(-240, 20) * SECOND_MS)
        actions: list[tuple[int, str, Any]] = [(login, "login", None)]
        last_back = login
        for s, e, kind in activities:
            if kind == "work":
                continue
            if kind in ("break", "lunch"):
                go = s + int(rng.uniform(-40, 45) * SECOND_MS)
                if rng.random() < b.break_overrun_rate:
                    back = e + int(min(1200.0, 60 + _lognormal(rng, 150, 0.6)) * SECOND_MS)
                else:
                    back = e + int(rng.uniform(-60, 30) * SECOND_MS)
            else:
                go = s + int(rng.uniform(-60, 30) * SECOND_MS)
                back = e + int(rng.uniform(0, 120) * SECOND_MS)
            actions += [(go, "aux", kind), (back, "available", None)]
            last_back = back
        if rng.random() < b.early_logout_rate:
            logout = shift_end - int(rng.uniform(300, 1800) * SECOND_MS)
        else:
            logout = shift_end + int(rng.uniform(0, 150) * SECOND_MS)
        logout = max(logout, last_back + 60 * SECOND_MS)
        rate_per_ms = b.unscheduled_aux_per_hour / HOUR_MS
        t = float(login)
        while rate_per_ms > 0:
            t += rng.expovariate(rate_per_ms)
            if t >= logout:
                break
            duration_s = min(1200.0, 30 + _lognormal(rng, 200, 0.6))
            actions.append((int(t), "personal", int(duration_s * SECOND_MS)))
        actions.append((logout, "logout", None))
        actions.sort(key=lambda a: a[0])
        return tuple(actions)

    # -- arrivals ---------------------------------------------------------------------------

    def _day_factor(self, day: date) -> float:
        f = self._day_factor_cache.get(day)
        if f is None:
            f = random.Random(f"{self.seed}:volume:{day.isoformat()}").gammavariate(100, 0.01)
            if len(self._day_factor_cache) > 8:
                self._day_factor_cache.clear()
            self._day_factor_cache[day] = f
        return f

    def _rate_per_ms(self, queue: QueueConfig, minute_ms: int) -> float:
        """Actual arrival rate during the minute starting at ``minute_ms``."""
        cached = self._rate_cache.get(queue.id)
        if cached is not None and cached[0] == minute_ms:
            return cached[1]
        local = from_ms(minute_ms).astimezone(self.tz)
        iv = interval_start_ms(minute_ms, self.tz, self.settings.interval_minutes)
        noise = self._noise_cache.get(queue.id)
        if noise is None or noise[0] != iv:
            noise = (iv, random.Random(f"{self.seed}:noise:{queue.id}:{iv}").gammavariate(25, 0.04))
            self._noise_cache[queue.id] = noise
        hour = local.hour + (local.minute + 0.5) / 60
        rate = self.rate_per_h(queue, hour) * noise[1] * self._day_factor(local.date()) / HOUR_MS
        self._rate_cache[queue.id] = (minute_ms, rate)
        return rate

    def next_arrival_ms(self, queue: QueueConfig, after_ms: int) -> int | None:
        rng = self._rng_arrivals[queue.id]
        t = max(self._arrival_t.get(queue.id, float(after_ms)), float(after_ms))
        need = rng.expovariate(1.0)
        limit = t + 7 * DAY_MS
        while t < limit:
            minute = int(t // MINUTE_MS) * MINUTE_MS
            step_end = minute + MINUTE_MS
            rate = self._rate_per_ms(queue, minute)
            if rate > 0:
                if t + need / rate < step_end:
                    t += need / rate
                    self._arrival_t[queue.id] = t
                    return int(t)
                need -= rate * (step_end - t)
            t = float(step_end)
        return None

    # -- contacts ---------------------------------------------------------------------------

    def _customer(self, queue_id: str, t_ms: int) -> str:
        pending = self._repeats[queue_id]
        while pending and pending[0][0] < t_ms - REPEAT_EXPIRY_MS:
            heapq.heappop(pending)
        if pending and pending[0][0] <= t_ms:
            return heapq.heappop(pending)[2]
        self._customers += 1
        return f"cust-{self.seed}-{self._customers:06d}"

    def contact_plan(
        self, queue: QueueConfig, t_ms: int, customer: str | None = None, transferred: bool = False
    ) -> ContactPlan:
        rng = self._rng_contacts
        m = self._model(queue)
        if customer is None:
            customer = self._customer(queue.id, t_ms)
        patience_ms: int | None = None
        if m.patience_median_s is not None:
            if rng.random() < m.quick_hangup_rate:
                patience_ms = int(rng.uniform(0.5, max(1.0, queue.short_abandon_s)) * SECOND_MS)
            else:
                patience_ms = _lognormal_ms(rng, m.patience_median_s, m.patience_sigma, 1, 4 * 3600)
        talk_ms = _lognormal_ms(rng, self._talk_median_s(queue), m.talk_sigma, 20, 5400)
        holds: tuple[tuple[int, int], ...] = ()
        if rng.random() < m.hold_rate:
            n = 1 if rng.random() < 0.7 else 2
            points = sorted(int(rng.uniform(0.15, 0.9) * talk_ms) for _ in range(n))
            if n == 2 and points[1] - points[0] < SECOND_MS:
                points = points[:1]
            holds = tuple((p, _lognormal_ms(rng, m.hold_median_s, 0.6, 5, 900)) for p in points)
        wrap_ms = _lognormal_ms(rng, m.wrap_median_s, 0.5, 3, 600)
        transfer_to = None
        peers = [q.id for q in self.queues if q.id != queue.id and q.channel == queue.channel]
        if not transferred and peers and rng.random() < m.transfer_rate:
            transfer_to = rng.choice(peers)
        # the transferring agent does not judge the outcome: the transfer leg's wrap-up does
        resolved = None if transfer_to is not None else rng.random() < (0.75 if transferred else 0.82)
        callback_ms = None
        if m.callback_offer_s is not None and rng.random() < m.callback_take_rate:
            callback_ms = int((m.callback_offer_s + rng.uniform(1, 6)) * SECOND_MS)
        survey_delay_ms = None
        if transfer_to is None and rng.random() < m.survey_rate:
            survey_delay_ms = int(rng.uniform(20, 600) * SECOND_MS)
        return ContactPlan(
            customer=customer,
            patience_ms=patience_ms,
            overflow_after_ms=int(m.overflow_after_s * SECOND_MS),
            announce_ms=int(rng.uniform(3, 8) * SECOND_MS),
            callback_ms=callback_ms,
            ring_ms=int(rng.uniform(*m.ring_s) * SECOND_MS),
            talk_ms=talk_ms,
            holds=holds,
            wrap_ms=wrap_ms,
            transfer_to=transfer_to,
            resolved=resolved,
            survey_delay_ms=survey_delay_ms,
        )

    def survey_score(self, resolved: bool, wait_ms: int) -> int:
        rng = self._rng_contacts
        weights = (3, 5, 12, 35, 45) if resolved else (25, 25, 25, 15, 10)
        score = rng.choices((1, 2, 3, 4, 5), weights=weights)[0]
        if wait_ms > 60 * SECOND_MS and score > 1 and rng.random() < 0.3:
            score -= 1
        return score

    def contact_closed(self, queue_id: str, customer: str | None, kind: str, t_ms: int) -> None:
        """A contact's fate is known; maybe the customer calls again (repeat caller)."""
        if customer is None:
            return
        rng = self._rng_contacts
        chance, median_s = {
            "short_abandon": (0.3, 600),
            "abandoned": (0.55, 1200),
            "overflowed": (0.7, 1800),
            "unresolved": (0.6, 7200),
            "resolved": (0.03, 14400),
        }[kind]
        if rng.random() < chance:
            due = t_ms + int(max(60.0, _lognormal(rng, median_s, 0.7)) * SECOND_MS)
            self._repeat_seq += 1
            heapq.heappush(self._repeats[queue_id], (due, self._repeat_seq, customer))


class _Contact:
    __slots__ = (
        "cid",
        "seq",
        "queue",
        "customer",
        "parent",
        "plan",
        "offered_ms",
        "state",
        "agent",
        "outcome",
        "outcome_ms",
        "holds",
        "end_ms",
        "transferred_to",
        "wrap_end_ms",
        "resolved",
        "answered_by",
    )

    def __init__(self, cid: str, seq: int, queue: QueueConfig, plan: ContactPlan, parent: str | None, now: int) -> None:
        self.cid, self.seq, self.queue, self.plan, self.parent = cid, seq, queue, plan, parent
        self.customer = plan.customer
        self.offered_ms = now
        self.state = "waiting"  # waiting, ringing, talking, wrap, done
        self.agent: _Agent | None = None
        self.outcome: str | None = None
        self.outcome_ms: int | None = None
        self.holds: list[list[int | None]] = []
        self.end_ms: int | None = None
        self.transferred_to: str | None = None
        self.wrap_end_ms: int | None = None
        self.resolved: bool | None = None  # as the wrap-up said it (None: not said)
        self.answered_by: str | None = None  # agent id


class _Agent:
    __slots__ = (
        "spec",
        "phase",
        "desired",
        "emitted",
        "contacts",
        "token",
        "personal",
        "pending_ms",
        "timeline",
    )

    def __init__(self, spec: AgentSpec) -> None:
        self.spec = spec
        self.phase: str | None = None  # out, idle, ringing, talk, wrap, aux
        self.desired: tuple[str, str | None] = OUT
        self.emitted: tuple[str, str | None] | None = None
        self.contacts: list[_Contact] = []  # held: ringing, talking (or holding), in wrap-up
        self.token = 0
        self.personal = False
        self.pending_ms: int | None = None
        self.timeline: list[tuple[int, str, str | None]] = []


_STATE_OF_PHASE = {
    "out": "logged_out",
    "idle": "available",
    "ringing": "available",
    "talk": "on_contact",
    "wrap": "wrap_up",
    "aux": "aux",
}


def run_tag(start_ms: int) -> str:
    """Compact UTC start time, part of event and contact ids so separate runs never collide."""
    tag = from_ms(start_ms).astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{tag}{start_ms % 1000:03d}Z" if start_ms % 1000 else f"{tag}Z"


class Simulation:
    """The discrete-event engine; ``stream()`` yields ``(t_ms, event)`` in time order."""

    def __init__(
        self,
        settings: Settings,
        sampler: Sampler,
        seed: int,
        start_ms: int,
        end_ms: int | None = None,
        keep_records: bool = True,
    ) -> None:
        self.settings = settings
        self.sampler = sampler
        self.seed = seed
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.keep_records = keep_records
        self.tz = settings.tz
        self.queues = sim_queues(settings)
        self.queue_by_id = {q.id: q for q in self.queues}
        tag = run_tag(start_ms)
        self._event_prefix = f"sim-{seed}-{tag}-"
        self._contact_prefix = f"c-{seed}-{tag}-"
        self.now = start_ms
        self._heap: list[tuple[int, int, Any, Any]] = []
        self._seq = 0
        self._n_events = 0
        self._n_contacts = 0
        self._out: list[tuple[int, dict[str, Any]]] = []
        self._ts_cache = (-1, "")
        self.agents = [_Agent(spec) for spec in sampler.agents()]
        self._idle: dict[str, dict[_Agent, None]] = {q.id: {} for q in self.queues}
        # agents holding contacts who can take one more of the queue's channel, longest spare first
        self._spare: dict[str, dict[_Agent, None]] = {q.id: {} for q in self.queues}
        self._staffed: dict[str, int] = {q.id: 0 for q in self.queues}
        self._waiting: dict[str, deque[_Contact]] = {q.id: deque() for q in self.queues}
        self.contacts: list[_Contact] = []
        self.schedules: dict[str, dict[date, tuple[tuple[int, int, str], ...]]] = {}
        # (queue, score, offered ms of the surveyed contact, agent id of the survey)
        self.surveys: list[tuple[str, int, int, str]] = []

    # -- plumbing ---------------------------------------------------------------------------

    def _at(self, t_ms: int, fn: Any, arg: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t_ms, self._seq, fn, arg))

    def _ts(self) -> str:
        if self._ts_cache[0] != self.now:
            self._ts_cache = (self.now, iso(self.now, self.tz))
        return self._ts_cache[1]

    def _emit(self, etype: str, **fields: Any) -> None:
        self._n_events += 1
        event = {"event_id": f"{self._event_prefix}{self._n_events}", "type": etype, "ts": self._ts()}
        event.update(fields)
        self._out.append((self.now, event))

    def stream(self) -> Iterator[tuple[int, dict[str, Any]]]:
        self._begin()
        yield from self._drain()
        heap, end = self._heap, self.end_ms
        while heap:
            t_ms, _, fn, arg = heap[0]
            if end is not None and t_ms >= end:
                break
            heapq.heappop(heap)
            self.now = t_ms
            fn(arg)
            if self._out:
                yield from self._drain()

    def _drain(self) -> list[tuple[int, dict[str, Any]]]:
        out, self._out = self._out, []
        return out

    # -- days -------------------------------------------------------------------------------

    def _begin(self) -> None:
        today = local_date(self.start_ms, self.tz)
        days = [today]
        publish_today = local_ms(today, PUBLISH_NEXT_DAY_MIN, self.settings)
        if publish_today <= self.start_ms:
            days.append(today + timedelta(days=1))
        else:
            self._schedule_publication(today)
        plans = {day: self._day_plans(day) for day in days}
        for day in days:
            self._publish_forecasts(day)
        for a in self.agents:
            self._emit(
                "agent.profile",
                agent_id=a.spec.agent_id,
                name=a.spec.name,
                team=a.spec.team,
                queues=list(a.spec.queues),
                **({"max_concurrent": dict(a.spec.max_concurrent)} if a.spec.max_concurrent else {}),
            )
        for day in days:
            self._publish_schedules(day, plans[day])
        if len(days) > 1:
            self._schedule_publication(days[-1])
        for a in self.agents:
            self._settle(a)
        for q in self.queues:
            self._next_arrival(q)

    def _day_plans(self, day: date) -> dict[str, DayPlan]:
        return {a.spec.agent_id: self.sampler.day_plan(a.spec, day) for a in self.agents}

    def _schedule_publication(self, day: date) -> None:
        """Publish the day after ``day`` in the evening of ``day``."""
        evening_ms = local_ms(day, PUBLISH_NEXT_DAY_MIN, self.settings)
        self._at(evening_ms, self._publish_day, day + timedelta(days=1))

    def _publish_day(self, day: date) -> None:
        self._publish_forecasts(day)
        self._publish_schedules(day, self._day_plans(day))
        self._schedule_publication(day)

    def _publish_forecasts(self, day: date) -> None:
        for q in self.queues:
            intervals = [
                {"start": iso(s, self.tz), "offered": offered, "aht_s": aht_s}
                for s, offered, aht_s in self.sampler.forecast(q, day)
            ]
            self._emit(
                "forecast.published",
                queue=q.id,
                date=day.isoformat(),
                interval_minutes=self.settings.interval_minutes,
                intervals=intervals,
            )

    def _publish_schedules(self, day: date, plans: dict[str, DayPlan]) -> None:
        for a in self.agents:
            plan = plans[a.spec.agent_id]
            activities = [
                {"start": iso(s, self.tz), "end": iso(e, self.tz), "activity": act} for s, e, act in plan.activities
            ]
            self._emit("schedule.published", agent_id=a.spec.agent_id, date=day.isoformat(), activities=activities)
            if self.keep_records:
                self.schedules.setdefault(a.spec.agent_id, {})[day] = plan.activities
            for t_ms, kind, arg in plan.actions:
                if t_ms >= self.now:
                    self._at(t_ms, self._on_action, (a, kind, arg))
                elif kind != "personal":
                    a.desired = _desired(kind, arg)

    # -- agents -----------------------------------------------------------------------------

    def _set_phase(self, a: _Agent, phase: str, reason: str | None = None) -> None:
        old = a.phase
        if old != phase:
            if old == "idle":
                for q in a.spec.queues:
                    self._idle[q].pop(a, None)
            if (old in (None, "out")) != (phase == "out"):
                delta = -1 if phase == "out" else 1
                for q in a.spec.queues:
                    self._staffed[q] += delta
            a.phase = phase
            if phase == "idle":
                for q in a.spec.queues:
                    self._idle[q][a] = None
        state = (_STATE_OF_PHASE[phase], reason if phase == "aux" else None)
        if state != a.emitted:
            a.emitted = state
            if state[1] is None:
                self._emit("agent.state", agent_id=a.spec.agent_id, state=state[0])
            else:
                self._emit("agent.state", agent_id=a.spec.agent_id, state=state[0], reason=state[1])
            if self.keep_records:
                a.timeline.append((self.now, state[0], state[1]))

    def _settle(self, a: _Agent) -> None:
        """Put a free agent in the state it wants; an available agent takes the oldest contact
        (and more of its channel up to its ``max_concurrent``). An agent holding contacts shows
        the state of the busiest of them and takes more into its spare capacity."""
        if a.contacts:
            self._show_contacts(a)
            self._fill(a)
            return
        self._index_spare(a)
        if a.desired != AVAIL:
            self._set_phase(a, "out" if a.desired == OUT else "aux", a.desired[1])
            return
        if not a.personal and a.pending_ms is not None:
            self._start_personal(a, a.pending_ms)
        if a.personal:
            self._set_phase(a, "aux", "personal")
            return
        contact = self._oldest_waiting(a.spec.queues)
        if contact is None:
            self._set_phase(a, "idle")
        else:
            self._set_phase(a, "ringing")
            self._reserve(a, contact)
            self._fill(a)

    def _show_contacts(self, a: _Agent) -> None:
        """on_contact while any held contact is in conversation, else wrap_up while any is in
        wrap-up, else (only ringing ones) available."""
        states = {c.state for c in a.contacts}
        self._set_phase(a, "talk" if "talking" in states else "wrap" if "wrap" in states else "ringing")

    def _spare_queues(self, a: _Agent) -> tuple[str, ...]:
        """Queues of which an agent holding contacts takes one more now: it wants work, and holds
        fewer than its ``max_concurrent`` of their channel and nothing of another channel."""
        if not a.contacts or a.desired != AVAIL or a.personal or a.pending_ms is not None:
            return ()
        channel = a.contacts[0].queue.channel
        if len(a.contacts) >= a.spec.max_concurrent.get(channel, 1):
            return ()
        if any(c.queue.channel != channel for c in a.contacts):
            return ()
        return tuple(q for q in a.spec.queues if self.queue_by_id[q].channel == channel)

    def _index_spare(self, a: _Agent) -> None:
        spare_in = self._spare_queues(a)
        for q in a.spec.queues:
            if q in spare_in:
                self._spare[q].setdefault(a, None)
            else:
                self._spare[q].pop(a, None)

    def _fill(self, a: _Agent) -> None:
        """Reserve the oldest waiting contacts the agent's spare capacity allows."""
        while True:
            queues = self._spare_queues(a)
            contact = self._oldest_waiting(queues) if queues else None
            if contact is None:
                break
            self._reserve(a, contact)
        self._index_spare(a)

    def _on_action(self, arg: tuple[_Agent, str, Any]) -> None:
        a, kind, value = arg
        if kind == "personal":
            if a.desired == AVAIL and not a.personal and a.pending_ms is None:
                a.pending_ms = value
                self._settle(a)
            return
        a.desired = _desired(kind, value)
        a.token += 1
        a.personal, a.pending_ms = False, None
        self._settle(a)

    def _start_personal(self, a: _Agent, duration_ms: int) -> None:
        a.pending_ms = None
        a.personal = True
        a.token += 1
        self._at(self.now + duration_ms, self._on_personal_end, (a, a.token))

    def _on_personal_end(self, arg: tuple[_Agent, int]) -> None:
        a, token = arg
        if token == a.token:
            a.personal = False
            self._settle(a)

    # -- contacts ---------------------------------------------------------------------------

    def _next_arrival(self, queue: QueueConfig) -> None:
        t_ms = self.sampler.next_arrival_ms(queue, self.now)
        if t_ms is not None:
            self._at(max(t_ms, self.now), self._on_arrival, queue)

    def _on_arrival(self, queue: QueueConfig) -> None:
        self._offer(queue, self.sampler.contact_plan(queue, self.now), None)
        self._next_arrival(queue)

    def _offer(self, queue: QueueConfig, plan: ContactPlan, parent: str | None) -> None:
        self._n_contacts += 1
        cid = f"{self._contact_prefix}{self._n_contacts}"
        c = _Contact(cid, self._n_contacts, queue, plan, parent, self.now)
        fields: dict[str, Any] = {"contact_id": c.cid, "queue": queue.id, "channel": queue.channel}
        if c.customer is not None:
            fields["customer"] = c.customer
        if parent is not None:
            fields["parent_contact_id"] = parent
        self._emit("contact.offered", **fields)
        if self.keep_records:
            self.contacts.append(c)
        if plan.patience_ms is not None:
            self._at(self.now + plan.patience_ms, self._on_patience, c)
        if self._staffed[queue.id] == 0:
            self._at(self.now + plan.announce_ms, self._on_overflow, (c, "no_agents"))
        else:
            self._at(self.now + plan.overflow_after_ms, self._on_overflow, (c, "timeout"))
            if plan.callback_ms is not None and plan.callback_ms < plan.overflow_after_ms:
                self._at(self.now + plan.callback_ms, self._on_overflow, (c, "key"))
        idle, spare = self._idle[queue.id], self._spare[queue.id]
        if idle:
            a = next(iter(idle))
            self._set_phase(a, "ringing")
            self._reserve(a, c)
            self._index_spare(a)
        elif spare:
            a = next(iter(spare))
            self._reserve(a, c)
            self._index_spare(a)
        else:
            self._waiting[queue.id].append(c)

    def _oldest_waiting(self, queue_ids: tuple[str, ...]) -> _Contact | None:
        best: deque[_Contact] | None = None
        for q in queue_ids:
            dq = self._waiting[q]
            while dq and dq[0].state != "waiting":
                dq.popleft()
            if dq and (best is None or (dq[0].offered_ms, dq[0].seq) < (best[0].offered_ms, best[0].seq)):
                best = dq
        return best.popleft() if best is not None else None

    def _reserve(self, a: _Agent, c: _Contact) -> None:
        a.contacts.append(c)
        c.agent, c.state = a, "ringing"
        self._at(self.now + c.plan.ring_ms, self._on_answer, c)

    def _release(self, c: _Contact) -> None:
        a = c.agent
        if a is not None and c in a.contacts:
            a.contacts.remove(c)
            c.agent = None
            self._settle(a)

    def _on_patience(self, c: _Contact) -> None:
        if c.state not in ("waiting", "ringing"):
            return
        c.outcome, c.outcome_ms = "abandoned", self.now
        self._emit("contact.abandoned", contact_id=c.cid, queue=c.queue.id)
        short = self.now - c.offered_ms < round(c.queue.short_abandon_s * SECOND_MS)
        self._close(c, "short_abandon" if short else "abandoned")
        self._release(c)

    def _on_overflow(self, arg: tuple[_Contact, str]) -> None:
        c, reason = arg
        if c.state != "waiting":
            return
        c.outcome, c.outcome_ms = "overflowed", self.now
        self._emit("contact.overflowed", contact_id=c.cid, queue=c.queue.id, reason=reason)
        self._close(c, "overflowed")

    def _close(self, c: _Contact, kind: str) -> None:
        c.state = "done"
        self.sampler.contact_closed(c.queue.id, c.customer, kind, self.now)

    def _on_answer(self, c: _Contact) -> None:
        if c.state != "ringing":
            return
        a = c.agent
        assert a is not None
        c.state, c.outcome, c.outcome_ms, c.answered_by = "talking", "answered", self.now, a.spec.agent_id
        self._emit("contact.answered", contact_id=c.cid, queue=c.queue.id, agent_id=a.spec.agent_id)
        self._show_contacts(a)
        f = a.spec.aht_factor
        talk_ms = max(SECOND_MS, round(c.plan.talk_ms * f))
        t = self.now
        held_ms = 0
        for before_ms, hold_ms in c.plan.holds:
            start = self.now + min(talk_ms - 1, max(1, round(before_ms * f))) + held_ms
            if start <= t:
                continue
            self._at(start, self._on_hold, (c, True))
            self._at(start + hold_ms, self._on_hold, (c, False))
            held_ms += hold_ms
            t = start + hold_ms
        self._at(self.now + talk_ms + held_ms, self._on_conversation_end, c)

    def _on_hold(self, arg: tuple[_Contact, bool]) -> None:
        c, starting = arg
        agent_id = c.agent.spec.agent_id  # type: ignore[union-attr]
        if starting:
            c.holds.append([self.now, None])
            self._emit("contact.hold_started", contact_id=c.cid, agent_id=agent_id)
        else:
            c.holds[-1][1] = self.now
            self._emit("contact.hold_ended", contact_id=c.cid, agent_id=agent_id)

    def _on_conversation_end(self, c: _Contact) -> None:
        a = c.agent
        assert a is not None
        c.end_ms, c.state = self.now, "wrap"
        target = c.plan.transfer_to
        if target is not None:
            c.transferred_to = target
            self._emit("contact.transferred", contact_id=c.cid, agent_id=a.spec.agent_id, to_queue=target)
        else:
            self._emit("contact.ended", contact_id=c.cid, agent_id=a.spec.agent_id)
        self._show_contacts(a)
        if target is not None:
            queue = self.queue_by_id[target]
            self._offer(queue, self.sampler.contact_plan(queue, self.now, c.customer, True), c.cid)
        elif c.plan.survey_delay_ms is not None:
            self._at(self.now + c.plan.survey_delay_ms, self._on_survey, c)
        self._at(self.now + max(1, round(c.plan.wrap_ms * a.spec.aht_factor)), self._on_wrap_end, c)

    def _on_wrap_end(self, c: _Contact) -> None:
        a = c.agent
        assert a is not None
        c.wrap_end_ms, c.resolved = self.now, c.plan.resolved
        if c.resolved is None:
            self._emit("contact.wrapup_ended", contact_id=c.cid, agent_id=a.spec.agent_id)
        else:
            self._emit("contact.wrapup_ended", contact_id=c.cid, agent_id=a.spec.agent_id, resolved=c.resolved)
        if c.transferred_to is None:
            self._close(c, "unresolved" if c.resolved is False else "resolved")
        else:
            c.state = "done"
        a.contacts.remove(c)
        self._settle(a)

    def _on_survey(self, c: _Contact) -> None:
        assert c.agent is not None and c.outcome_ms is not None
        score = self.sampler.survey_score(c.plan.resolved is not False, c.outcome_ms - c.offered_ms)
        agent_id = c.agent.spec.agent_id
        self._emit("survey.completed", contact_id=c.cid, score=score, agent_id=agent_id, queue=c.queue.id)
        if self.keep_records:
            self.surveys.append((c.queue.id, score, c.offered_ms, agent_id))


def _desired(kind: str, arg: Any) -> tuple[str, str | None]:
    if kind in ("login", "available"):
        return AVAIL
    if kind == "logout":
        return OUT
    return ("aux", str(arg))


# -- truth ------------------------------------------------------------------------------------


def _allowed(state: str, reason: str | None, allowed: list[str]) -> bool:
    for entry in allowed:
        want_state, _, want_reason = entry.partition("/")
        if want_state == state and (not want_reason or want_reason == reason):
            return True
    return False


def _overlap_ms(a0: int, a1: int, b0: int, b1: int) -> int:
    return max(0, min(a1, b1) - max(a0, b0))


@dataclass(frozen=True)
class _CustomerContact:
    """FCR facts of one customer contact (an offered contact with a customer, not a transfer leg)."""

    contact: _Contact
    repeat: bool  # the customer had another customer contact in the W before it
    eligible: bool  # answered (windows are all closed for truth)
    resolved: bool  # eligible, no "resolved: false" in its chain, no customer contact in the W after


def _customer_contacts(sim: Simulation) -> list[_CustomerContact]:
    """Every customer contact of the run with its repeat and FCR facts, from the contact records."""
    window_ms = round(sim.settings.fcr.window_hours * HOUR_MS)
    by_id = {c.cid: c for c in sim.contacts}
    said_unresolved: set[str] = set()  # roots of chains with a wrap-up saying resolved: false
    for c in sim.contacts:
        if c.wrap_end_ms is not None and c.resolved is False:
            root, seen = c, {c.cid}
            while root.parent is not None and root.parent in by_id and root.parent not in seen:
                root = by_id[root.parent]
                seen.add(root.cid)
            said_unresolved.add(root.cid)
    by_customer: dict[str, list[_Contact]] = {}
    for c in sim.contacts:
        if c.customer is not None and c.parent is None:
            by_customer.setdefault(c.customer, []).append(c)
    out: list[_CustomerContact] = []
    for contacts in by_customer.values():
        contacts.sort(key=lambda c: (c.offered_ms, c.cid))
        for i, c in enumerate(contacts):
            # in (offered ms, contact id) order the nearest neighbours decide both windows
            repeat = i > 0 and c.offered_ms - contacts[i - 1].offered_ms <= window_ms
            followed = i + 1 < len(contacts) and contacts[i + 1].offered_ms - c.offered_ms <= window_ms
            eligible = c.outcome == "answered"
            resolved = eligible and not followed and c.cid not in said_unresolved
            out.append(_CustomerContact(c, repeat, eligible, resolved))
    return out


_QueueCounts = tuple[dict[str, dict[int, Counts]], dict[str, dict[date, Counts]]]


def _queue_truth(sim: Simulation, counted: _QueueCounts) -> tuple[dict[str, Any], dict[str, Any]]:
    """Queue STATS per offered interval and per local day."""
    by_interval, by_day = counted
    intervals = {
        q: {iso(iv, sim.tz): stats(counts, sim.queue_by_id[q].sl_formula) for iv, counts in sorted(ivs.items())}
        for q, ivs in by_interval.items()
    }
    days = {
        q: {d.isoformat(): stats(counts, sim.queue_by_id[q].sl_formula) for d, counts in sorted(ds.items())}
        for q, ds in by_day.items()
    }
    return intervals, days


def _queue_counts(sim: Simulation, customer_contacts: list[_CustomerContact]) -> _QueueCounts:
    """Counts per queue and offered interval, and per queue and local day of the offer."""
    settings, tz = sim.settings, sim.tz
    by_interval: dict[str, dict[int, Counts]] = {q.id: {} for q in sim.queues}
    by_day: dict[str, dict[date, Counts]] = {q.id: {} for q in sim.queues}
    for c in sim.contacts:
        iv = interval_start_ms(c.offered_ms, tz, settings.interval_minutes)
        for counts in (
            by_interval[c.queue.id].setdefault(iv, Counts()),
            by_day[c.queue.id].setdefault(local_date(c.offered_ms, tz), Counts()),
        ):
            _count(counts, c)
    # CSAT from the survey records (not from the contacts above), in the contact's offered interval
    for queue_id, score, offered_ms, _ in sim.surveys:
        iv = interval_start_ms(offered_ms, tz, settings.interval_minutes)
        for counts in (
            by_interval[queue_id].setdefault(iv, Counts()),
            by_day[queue_id].setdefault(local_date(offered_ms, tz), Counts()),
        ):
            counts.surveys += 1
            counts.score_sum += score
            counts.satisfied += score >= 4
    # repeats and FCR in the offered interval of the customer contact
    for f in customer_contacts:
        c = f.contact
        iv = interval_start_ms(c.offered_ms, tz, settings.interval_minutes)
        for counts in (
            by_interval[c.queue.id].setdefault(iv, Counts()),
            by_day[c.queue.id].setdefault(local_date(c.offered_ms, tz), Counts()),
        ):
            counts.customer_contacts += 1
            counts.repeat_contacts += f.repeat
            counts.fcr_eligible += f.eligible
            counts.fcr_resolved += f.resolved
    return by_interval, by_day


def _count(counts: Counts, c: _Contact) -> None:
    threshold_ms = round(c.queue.sl_threshold_s * SECOND_MS)
    short_ms = round(c.queue.short_abandon_s * SECOND_MS)
    counts.offered += 1
    if c.outcome is None or c.outcome_ms is None:
        counts.waiting += 1
        return
    wait_ms = c.outcome_ms - c.offered_ms
    counts.max_wait_ms = wait_ms if counts.max_wait_ms is None else max(counts.max_wait_ms, wait_ms)
    if c.outcome == "answered":
        counts.answered += 1
        counts.answered_within_sl += wait_ms <= threshold_ms
        counts.wait_answered_ms += wait_ms
        if c.end_ms is not None:
            hold_ms = sum(e - s for s, e in c.holds if s is not None and e is not None)
            counts.handled += 1
            counts.hold_ms += hold_ms
            counts.talk_ms += c.end_ms - c.outcome_ms - hold_ms
            counts.wrap_ms += c.wrap_end_ms - c.end_ms if c.wrap_end_ms is not None else 0
            counts.transferred += c.transferred_to is not None  # the conversation ended by the transfer
    elif c.outcome == "abandoned":
        counts.abandoned += 1
        short = wait_ms < short_ms
        counts.short_abandoned += short
        counts.abandoned_within_sl += wait_ms <= threshold_ms
        if not short:
            counts.wait_abandoned_ms += wait_ms
    else:
        counts.overflowed += 1


def _adherence_truth(sim: Simulation, end_ms: int) -> dict[str, Any]:
    rules = {**DEFAULT_ACTIVITY_STATES, **sim.settings.adherence.activity_states}
    span0, span1 = sim.start_ms, end_ms
    out: dict[str, Any] = {}
    for a in sim.agents:
        segments = [
            (t, a.timeline[i + 1][0] if i + 1 < len(a.timeline) else span1, state, reason)
            for i, (t, state, reason) in enumerate(a.timeline)
        ]
        days: dict[str, Any] = {}
        for day, activities in sorted(sim.schedules.get(a.spec.agent_id, {}).items()):
            lo, hi = day_bounds_ms(day, sim.tz)
            lo, hi = max(lo, span0), min(hi, span1)
            if lo >= hi:
                continue
            scheduled = in_adherence = work_scheduled = worked = 0
            for s, e, activity in activities:
                s, e = max(s, lo), min(e, hi)
                if s >= e or activity == "off":
                    continue
                scheduled += e - s
                if activity == "work":
                    work_scheduled += e - s
                allowed = rules.get(activity, [f"aux/{activity}"])
                for t0, t1, state, reason in segments:
                    if t1 > s and t0 < e and _allowed(state, reason, allowed):
                        in_adherence += _overlap_ms(t0, t1, s, e)
            for t0, t1, state, _ in segments:
                if state in WORKING_STATES:
                    worked += _overlap_ms(t0, t1, lo, hi)
            days[day.isoformat()] = {
                "scheduled_s": scheduled / 1000,
                "in_adherence_s": in_adherence / 1000,
                "adherence": in_adherence / scheduled if scheduled else None,
                "work_scheduled_s": work_scheduled / 1000,
                "worked_s": worked / 1000,
                "conformance": worked / work_scheduled if work_scheduled else None,
            }
        if days:
            out[a.spec.agent_id] = days
    return out


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _fcr_truth(sim: Simulation, customer_contacts: list[_CustomerContact]) -> dict[str, Any]:
    """Per queue, over the run: repeats and first contact resolution."""
    totals = {q.id: [0, 0, 0, 0] for q in sim.queues}  # customer, repeat, eligible, resolved
    for f in customer_contacts:
        row = totals.setdefault(f.contact.queue.id, [0, 0, 0, 0])
        row[0] += 1
        row[1] += f.repeat
        row[2] += f.eligible
        row[3] += f.resolved
    return {
        q: {
            "customer_contacts": n,
            "repeat_contacts": repeat,
            "repeat_rate": _ratio(repeat, n),
            "fcr_eligible": eligible,
            "fcr_resolved": resolved,
            "fcr": _ratio(resolved, eligible),
        }
        for q, (n, repeat, eligible, resolved) in totals.items()
    }


def _csat_truth(sim: Simulation) -> dict[str, Any]:
    """Per queue (the survey's), over the run."""
    csat: dict[str, dict[str, Any]] = {q.id: {"surveys": 0, "score_sum": 0, "satisfied": 0} for q in sim.queues}
    for queue_id, score, _, _ in sim.surveys:
        row = csat[queue_id]
        row["surveys"] += 1
        row["score_sum"] += score
        row["satisfied"] += score >= 4
    for row in csat.values():
        n = row["surveys"]
        row["avg_score"] = row["score_sum"] / n if n else None
        row["csat"] = row["satisfied"] / n if n else None
    return csat


_QUALITY_FIELDS = 5  # fcr_eligible, fcr_resolved, surveys, score_sum, satisfied


def _quality_row(n: list[int]) -> dict[str, Any]:
    eligible, resolved, surveys, score_sum, satisfied = n
    return {
        "fcr_eligible": eligible,
        "fcr_resolved": resolved,
        "fcr": _ratio(resolved, eligible),
        "surveys": surveys,
        "score_sum": score_sum,
        "csat_avg": _ratio(score_sum, surveys),
        "csat_satisfied": _ratio(satisfied, surveys),
    }


def _quality_truth(sim: Simulation, customer_contacts: list[_CustomerContact]) -> dict[str, Any]:
    """FCR and CSAT per agent and local day, and per team and local day.

    FCR: eligible customer contacts by the agent who answered them, on the day they were offered;
    CSAT: surveys by their ``agent_id``, on the day the surveyed contact was offered.
    """
    tz = sim.tz
    team_of = {a.spec.agent_id: a.spec.team for a in sim.agents}
    per_agent: dict[str, dict[date, list[int]]] = {}

    def row(agent_id: str, offered_ms: int) -> list[int]:
        days = per_agent.setdefault(agent_id, {})
        return days.setdefault(local_date(offered_ms, tz), [0] * _QUALITY_FIELDS)

    for f in customer_contacts:
        if f.eligible:
            c = f.contact
            assert c.answered_by is not None
            n = row(c.answered_by, c.offered_ms)
            n[0] += 1
            n[1] += f.resolved
    for _, score, offered_ms, agent_id in sim.surveys:
        n = row(agent_id, offered_ms)
        n[2] += 1
        n[3] += score
        n[4] += score >= 4
    per_team: dict[str, dict[date, list[int]]] = {}
    for agent_id, days in per_agent.items():
        for day, n in days.items():
            total = per_team.setdefault(team_of[agent_id], {}).setdefault(day, [0] * _QUALITY_FIELDS)
            for i, v in enumerate(n):
                total[i] += v
    return {
        "agents": {
            agent_id: {
                day.isoformat(): {"team": team_of[agent_id], **_quality_row(n)}
                for day, n in sorted(per_agent[agent_id].items())
            }
            for agent_id in sorted(per_agent)
        },
        "teams": {
            team: {day.isoformat(): _quality_row(n) for day, n in sorted(per_team[team].items())}
            for team in sorted(per_team)
        },
    }


# -- agent time, performance, teams, channels -------------------------------------------------

AGENT_STATES = ("available", "on_contact", "wrap_up", "aux")  # the logged-in states agent time counts
UNSPECIFIED_REASON = "unspecified"  # aux without a reason
# per agent and offered interval: handled, talk, hold, wrap (ms), transferred; surveys, score sum, satisfied
_HANDLED, _TALK, _HOLD, _WRAP, _TRANSFERRED, _SURVEYS, _SCORE_SUM, _SATISFIED = range(8)
_SCHED, _INSIDE, _WORK, _WORKED = range(4)  # adherence ms: scheduled, in adherence, work scheduled, worked


class _Grid:
    """Local days and their intervals (fixed steps from local midnight; the last one of a day
    ends at the next midnight)."""

    def __init__(self, tz: Any, interval_minutes: int) -> None:
        self.tz = tz
        self.step = interval_minutes * MINUTE_MS
        self._bounds: dict[date, tuple[int, int]] = {}

    def bounds(self, day: date) -> tuple[int, int]:
        found = self._bounds.get(day)
        if found is None:
            found = self._bounds[day] = day_bounds_ms(day, self.tz)
        return found

    def pieces(self, t0: int, t1: int) -> Iterator[tuple[int, int]]:
        """``(interval start, ms)`` of ``[t0, t1)`` cut at interval starts and local midnights."""
        t = t0
        while t < t1:
            lo, hi = self.bounds(local_date(t, self.tz))
            start = lo + (t - lo) // self.step * self.step
            end = min(start + self.step, hi, t1)
            yield start, end - t
            t = end


class _Figures:
    """Summable figures of one agent (or a group) over one interval or one local day."""

    __slots__ = ("state_ms", "aux_ms", "handle", "adherence", "fcr", "csat")

    def __init__(self) -> None:
        self.state_ms = dict.fromkeys(AGENT_STATES, 0)
        self.aux_ms: dict[str, int] = {}
        self.handle = [0] * 8
        self.adherence = [0] * 4
        self.fcr = [0, 0]  # eligible, resolved (days only)
        self.csat = [0, 0]  # surveys, score sum

    def add(self, other: _Figures) -> None:
        for k, v in other.state_ms.items():
            self.state_ms[k] += v
        for k, v in other.aux_ms.items():
            self.aux_ms[k] = self.aux_ms.get(k, 0) + v
        for i, v in enumerate(other.handle):
            self.handle[i] += v
        for i, v in enumerate(other.adherence):
            self.adherence[i] += v
        for i, v in enumerate(other.fcr):
            self.fcr[i] += v
        for i, v in enumerate(other.csat):
            self.csat[i] += v

    def any(self) -> bool:
        return any(self.state_ms.values()) or any(self.handle) or any(self.adherence)

    def block(self, day: bool) -> dict[str, Any]:
        """The performance BLOCK: contacts answered, agent time, adherence, FCR (days), CSAT."""
        h, st = self.handle, self.state_ms
        handle_ms, available_ms = st["on_contact"] + st["wrap_up"], st["available"]
        handle_time = h[_TALK] + h[_HOLD] + h[_WRAP]
        aht = _ratio(handle_time, h[_HANDLED])
        return {
            "handled": h[_HANDLED],
            "talk_s": h[_TALK] / 1000,
            "hold_s": h[_HOLD] / 1000,
            "wrap_s": h[_WRAP] / 1000,
            "aht_s": None if aht is None else aht / 1000,
            "transfers": h[_TRANSFERRED],
            "occupancy": _ratio(handle_ms, handle_ms + available_ms),
            "handle_s": handle_ms / 1000,
            "available_s": available_ms / 1000,
            "state_s": {k: st[k] / 1000 for k in AGENT_STATES},
            "aux_s": {reason: ms / 1000 for reason, ms in sorted(self.aux_ms.items()) if ms},
            "adherence": _ratio(self.adherence[_INSIDE], self.adherence[_SCHED]),
            "conformance": _ratio(self.adherence[_WORKED], self.adherence[_WORK]),
            "fcr": _ratio(self.fcr[1], self.fcr[0]) if day else None,
            "csat_avg": _ratio(self.csat[1], self.csat[0]),
            "surveys": self.csat[0],
        }


def _segments(a: _Agent, until_ms: int) -> list[tuple[int, int, str, str | None]]:
    """The agent's emitted states as ``(start, end, state, reason)``; the last lasts to ``until_ms``."""
    tl = a.timeline
    return [
        (t, tl[i + 1][0] if i + 1 < len(tl) else until_ms, state, reason) for i, (t, state, reason) in enumerate(tl)
    ]


def _agent_figures(
    sim: Simulation, a: _Agent, grid: _Grid, until_ms: int, last_day: date, rules: dict[str, list[str]]
) -> tuple[dict[date, dict[int, _Figures]], dict[date, dict[str, Any]]]:
    """One agent's figures per local date and interval start up to ``until_ms`` (agent time and
    adherence; contacts and surveys are added by the caller), and per date its shrinkage and
    shift facts."""
    per_day: dict[date, dict[int, _Figures]] = {}

    def at(start: int) -> _Figures:
        ivs = per_day.setdefault(local_date(start, grid.tz), {})
        found = ivs.get(start)
        if found is None:
            found = ivs[start] = _Figures()
        return found

    segments = [seg for seg in _segments(a, until_ms) if seg[0] < seg[1]]
    for t0, t1, state, reason in segments:
        if state == "logged_out":
            continue
        for start, ms in grid.pieces(t0, t1):
            fig = at(start)
            fig.state_ms[state] += ms
            if state == "aux":
                key = reason or UNSPECIFIED_REASON
                fig.aux_ms[key] = fig.aux_ms.get(key, 0) + ms
            if state in WORKING_STATES:
                fig.adherence[_WORKED] += ms
    facts: dict[date, dict[str, Any]] = {}
    for day, activities in sorted(sim.schedules.get(a.spec.agent_id, {}).items()):
        if day > last_day or not activities:
            continue
        lo, hi = grid.bounds(day)
        shrinkage = {"scheduled_ms": 0, "off_phone_scheduled_ms": 0, "unscheduled_aux_ms": 0}
        for s, e, activity in activities:
            s, e = max(s, lo), min(e, hi, until_ms)
            if s >= e or activity == "off":
                continue
            shrinkage["scheduled_ms"] += e - s
            if activity != "work":
                shrinkage["off_phone_scheduled_ms"] += e - s
            for start, ms in grid.pieces(s, e):
                fig = at(start)
                fig.adherence[_SCHED] += ms
                if activity == "work":
                    fig.adherence[_WORK] += ms
            allowed = rules.get(activity, [f"aux/{activity}"])
            for t0, t1, state, reason in segments:
                x0, x1 = max(t0, s), min(t1, e)
                if x0 >= x1:
                    continue
                if _allowed(state, reason, allowed):
                    for start, ms in grid.pieces(x0, x1):
                        at(start).adherence[_INSIDE] += ms
                if activity == "work" and state == "aux":
                    shrinkage["unscheduled_aux_ms"] += x1 - x0
        shift_start, shift_end = activities[0][0], activities[-1][1]
        first_login = next(
            (
                max(t0, shift_start)
                for t0, t1, state, _ in segments
                if state != "logged_out" and t1 > shift_start and t0 < min(shift_end, until_ms)
            ),
            None,
        )
        status = "absent" if first_login is None else "late" if first_login > shift_start else "on_time"
        facts[day] = {
            "shrinkage": shrinkage,
            "shift": {"start_ms": shift_start, "end_ms": shift_end, "first_login_ms": first_login},
            "shift_status": status,
        }
    return per_day, facts


def _people_truth(sim: Simulation, quality_agents: dict[str, Any]) -> dict[str, Any]:
    """``agent_time``, ``performance``, ``teams`` and ``floor``: every local date up to the end of
    the local day of the run's end (the run lies in the past: an agent's last state lasts until
    then), from the agents' emitted state timelines, the published schedules, the contact records
    and the survey records."""
    assert sim.end_ms is not None
    tz, settings = sim.tz, sim.settings
    grid = _Grid(tz, settings.interval_minutes)
    last_day = local_date(sim.end_ms - 1, tz)
    until_ms = grid.bounds(last_day)[1]
    rules = {**DEFAULT_ACTIVITY_STATES, **settings.adherence.activity_states}
    figures: dict[str, dict[date, dict[int, _Figures]]] = {}
    facts: dict[str, dict[date, dict[str, Any]]] = {}
    for a in sim.agents:
        figures[a.spec.agent_id], facts[a.spec.agent_id] = _agent_figures(sim, a, grid, until_ms, last_day, rules)

    def at(agent_id: str, start: int) -> _Figures:
        ivs = figures.setdefault(agent_id, {}).setdefault(local_date(start, tz), {})
        found = ivs.get(start)
        if found is None:
            found = ivs[start] = _Figures()
        return found

    # contacts by the agent who answered them (handled ones), surveys by their agent: offered interval
    for c in sim.contacts:
        if c.answered_by is None or c.outcome_ms is None or c.end_ms is None:
            continue
        hold_ms = sum(e - s for s, e in c.holds if s is not None and e is not None)
        row = at(c.answered_by, interval_start_ms(c.offered_ms, tz, settings.interval_minutes)).handle
        row[_HANDLED] += 1
        row[_TALK] += c.end_ms - c.outcome_ms - hold_ms
        row[_HOLD] += hold_ms
        row[_WRAP] += c.wrap_end_ms - c.end_ms if c.wrap_end_ms is not None else 0
        row[_TRANSFERRED] += c.transferred_to is not None
    for _, score, offered_ms, agent_id in sim.surveys:
        fig = at(agent_id, interval_start_ms(offered_ms, tz, settings.interval_minutes))
        fig.handle[_SURVEYS] += 1
        fig.handle[_SCORE_SUM] += score
        fig.handle[_SATISFIED] += score >= 4
        fig.csat[0] += 1
        fig.csat[1] += score

    specs = {a.spec.agent_id: a.spec for a in sim.agents}
    agent_time: dict[str, Any] = {}
    performance: dict[str, Any] = {}
    groups: dict[tuple[str | None, date], dict[str, Any]] = {}  # (team, day); team None: the floor
    for agent_id in sorted(figures):
        spec = specs[agent_id]
        days_out: dict[str, Any] = {}
        time_ivs: dict[str, Any] = {}
        time_days: dict[str, Any] = {}
        quality = quality_agents.get(agent_id, {})
        for day in sorted(figures[agent_id]):
            if day > last_day:
                continue
            ivs = {s: f for s, f in sorted(figures[agent_id][day].items()) if f.any()}
            q = quality.get(day.isoformat())
            fact = facts[agent_id].get(day)
            if not ivs and q is None and fact is None:
                continue
            total = _Figures()
            for f in ivs.values():
                total.add(f)
            total.csat = [0, 0]  # the day's CSAT and FCR: the agent's quality of the day
            if q is not None:
                total.fcr = [q["fcr_eligible"], q["fcr_resolved"]]
                total.csat = [q["surveys"], q["score_sum"]]
            for start, f in ivs.items():
                if any(f.state_ms.values()):
                    time_ivs[iso(start, tz)] = {"state_ms": dict(f.state_ms), "aux_ms": dict(sorted(f.aux_ms.items()))}
            if any(total.state_ms.values()):
                time_days[day.isoformat()] = {
                    "state_ms": dict(total.state_ms),
                    "aux_ms": dict(sorted(total.aux_ms.items())),
                }
            days_out[day.isoformat()] = {
                "name": spec.name,
                "team": spec.team,
                "max_concurrent": dict(spec.max_concurrent),
                "day": total.block(day=True),
                "intervals": {iso(start, tz): f.block(day=False) for start, f in ivs.items()},
                "shrinkage": fact["shrinkage"] if fact else None,
                "shift": fact["shift"] if fact else None,
                "shift_status": fact["shift_status"] if fact else None,
            }
            for team in (spec.team, None):
                g = groups.setdefault(
                    (team, day),
                    {
                        "agents": 0,
                        "day": _Figures(),
                        "intervals": {},
                        "shrinkage": [0, 0, 0],
                        "absent": 0,
                        "late_logins": 0,
                    },
                )
                g["agents"] += 1
                g["day"].add(total)
                for start, f in ivs.items():
                    g["intervals"].setdefault(start, _Figures()).add(f)
                if fact is not None:
                    for i, k in enumerate(("scheduled_ms", "off_phone_scheduled_ms", "unscheduled_aux_ms")):
                        g["shrinkage"][i] += fact["shrinkage"][k]
                    g["absent"] += fact["shift_status"] == "absent"
                    g["late_logins"] += fact["shift_status"] == "late"
        if days_out:
            performance[agent_id] = days_out
        if time_ivs:
            agent_time[agent_id] = {"intervals": time_ivs, "days": time_days}

    def team_block(g: dict[str, Any]) -> dict[str, Any]:
        scheduled, off_phone, unscheduled_aux = g["shrinkage"]
        return {
            "agents": g["agents"],
            "day": {
                **g["day"].block(day=True),
                "shrinkage": _ratio(off_phone + unscheduled_aux, scheduled),
                "absent": g["absent"],
                "late_logins": g["late_logins"],
                "scheduled_s": g["day"].adherence[_SCHED] / 1000,
            },
            "intervals": {iso(start, tz): f.block(day=False) for start, f in sorted(g["intervals"].items())},
        }

    teams: dict[str, dict[str, Any]] = {}
    floor: dict[str, Any] = {}
    for (team, day), g in sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        if team is None:
            floor[day.isoformat()] = team_block(g)
        else:
            teams.setdefault(team, {})[day.isoformat()] = team_block(g)
    return {"agent_time": agent_time, "performance": performance, "teams": teams, "floor": floor}


def _channel_truth(sim: Simulation, counted: _QueueCounts) -> dict[str, Any]:
    """Per channel: the sums of its queues' counts per offered interval and local day; the
    service-level formula its queues with contacts there share, else ``queue_defaults``' with
    ``mixed_rules``."""
    by_interval, by_day = counted
    settings = sim.settings

    def with_formula(parts: list[tuple[str, Counts]]) -> dict[str, Any]:
        total = Counts()
        for _, counts in parts:
            total.merge(counts)
        formulas = {sim.queue_by_id[q].sl_formula for q, _ in parts}
        formula = next(iter(formulas)) if len(formulas) == 1 else settings.queue_defaults.sl_formula
        return {**stats(total, formula), "sl_formula": formula, "mixed_rules": len(formulas) > 1}

    out: dict[str, Any] = {}
    for q in sim.queues:
        out.setdefault(q.channel, {"queues": [], "intervals": {}, "days": {}})["queues"].append(q.id)
    for row in out.values():
        ivs: dict[int, list[tuple[str, Counts]]] = {}
        days: dict[date, list[tuple[str, Counts]]] = {}
        for q in row["queues"]:
            for start, counts in by_interval[q].items():
                if counts.offered:
                    ivs.setdefault(start, []).append((q, counts))
            for day, counts in by_day[q].items():
                if counts.offered:
                    days.setdefault(day, []).append((q, counts))
        row["intervals"] = {iso(start, sim.tz): with_formula(parts) for start, parts in sorted(ivs.items())}
        row["days"] = {day.isoformat(): with_formula(parts) for day, parts in sorted(days.items())}
    return out


def truth(sim: Simulation, seed: int) -> dict[str, Any]:
    """The figures the emitted events imply (docs/metrics.md, docs/adherence.md), from the model's own records."""
    if sim.end_ms is None or not sim.keep_records:
        raise ValueError("truth needs a bounded run that keeps its records")
    customer_contacts = _customer_contacts(sim)
    counted = _queue_counts(sim, customer_contacts)
    intervals, days = _queue_truth(sim, counted)
    quality = _quality_truth(sim, customer_contacts)
    people = _people_truth(sim, quality["agents"])
    return {
        "seed": seed,
        "start": iso(sim.start_ms, sim.tz),
        "end": iso(sim.end_ms, sim.tz),
        "timezone": sim.settings.timezone,
        "interval_minutes": sim.settings.interval_minutes,
        "intervals": intervals,
        "days": days,
        "agents": _adherence_truth(sim, sim.end_ms),
        "fcr": _fcr_truth(sim, customer_contacts),
        "csat": _csat_truth(sim),
        "quality": quality,
        **people,
        "channels": _channel_truth(sim, counted),
    }


@dataclass
class SimulationResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[str, Any] = field(default_factory=dict)


def simulate(
    settings: Settings,
    seed: int,
    agents: int,
    start_ms: int,
    duration_ms: int,
    *,
    behaviour: Behaviour | None = None,
    sampler: Sampler | None = None,
) -> SimulationResult:
    """Run ``[start_ms, start_ms + duration_ms)``; every event is validated with ``parse_event``."""
    if sampler is None:
        sampler = RandomSampler(settings, seed, agents, behaviour)
    sim = Simulation(settings, sampler, seed, start_ms, start_ms + duration_ms)
    events = []
    for _, event in sim.stream():
        parse_event(event)
        events.append(event)
    return SimulationResult(events, truth(sim, seed))
