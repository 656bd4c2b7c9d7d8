"""Pure parts of the websocket push: diff/apply/merge, filters, the latest-state mailbox, the hub."""

from __future__ import annotations

import asyncio
import itertools
import time

import orjson
import pytest
from hypothesis import given, settings as hsettings, strategies as st

import floorwatch.api.live as api_live
from floorwatch import topics
from floorwatch.api.live import (
    BadFilter,
    Filter,
    Hub,
    Mailbox,
    SharedFrame,
    apply,
    delta_frame,
    diff,
    encode,
    gap_after,
    merge,
    parse_filter,
    ping_frame,
    select,
)
from floorwatch.config import Settings
from floorwatch.readmodel.view import View

NOW = 1_709_605_050_000  # 2024-03-05T10:17:30+08:00


pytestmark = pytest.mark.usefixtures("isolated_config")


def state(queues: dict | None = None, agents: dict | None = None, alerts: dict | None = None) -> dict:
    return {"queues": queues or {}, "agents": agents or {}, "alerts": alerts or {}}


def test_diff_only_what_changed() -> None:
    a = state(
        queues={"q1": {"queue": "q1", "waiting": 1}, "q2": {"queue": "q2", "waiting": 0}},
        agents={"a1": {"agent_id": "a1", "state": "available"}},
    )
    b = state(
        queues={"q1": {"queue": "q1", "waiting": 2}, "q2": {"queue": "q2", "waiting": 0}},
        agents={"a2": {"agent_id": "a2", "state": "aux"}},
    )
    d = diff(a, b)
    assert d == {
        "queues": {"upsert": {"q1": {"queue": "q1", "waiting": 2}}, "remove": set()},
        "agents": {"upsert": {"a2": {"agent_id": "a2", "state": "aux"}}, "remove": {"a1"}},
    }
    assert diff(b, b) == {}
    assert apply(a, d) == b


rows = st.dictionaries(st.sampled_from(["k1", "k2", "k3", "k4"]), st.integers(0, 3).map(lambda n: {"v": n}), max_size=4)
states = st.builds(lambda q, a, al: state(q, a, al), rows, rows, rows)


@hsettings(max_examples=200, deadline=None)
@given(st.lists(states, min_size=2, max_size=8))
def test_merged_changes_reach_the_latest_state(seq: list[dict]) -> None:
    """Folding every consecutive diff into one gives exactly the last state from the first."""
    folded: dict = {}
    for prev, cur in itertools.pairwise(seq):
        folded = merge(folded, diff(prev, cur))
    assert apply(seq[0], folded) == seq[-1]


def test_merge_upsert_then_remove_and_back() -> None:
    up = {"agents": {"upsert": {"a": {"x": 1}}, "remove": set()}}
    rm = {"agents": {"upsert": {}, "remove": {"a"}}}
    assert merge(up, rm) == {"agents": {"upsert": {}, "remove": {"a"}}}
    assert merge(rm, up) == {"agents": {"upsert": {"a": {"x": 1}}, "remove": set()}}


async def test_slow_client_mailbox_holds_one_message_with_the_latest_state() -> None:
    """A client that sends nothing while 1,000 changes arrive has exactly one pending frame,
    and that frame turns its last-sent state into the latest state."""
    box = Mailbox()
    seen = state(queues={"q": {"queue": "q", "waiting": 0}})
    box.put_snapshot(seen, NOW, True)
    assert box.take()["type"] == "snapshot" and len(box) == 0
    prev = seen
    for i in range(1, 1001):
        cur = state(
            queues={"q": {"queue": "q", "waiting": i}},
            agents={f"a{i % 7}": {"agent_id": f"a{i % 7}", "n": i}} if i % 3 else {},
        )
        box.put_changes(diff(prev, cur), NOW + i, True)
        prev = cur
        assert len(box) == 1  # never more than one pending message
    assert box.merged == 999
    frame = box.take()
    assert frame["type"] == "delta" and frame["server_ts"] == NOW + 1000
    assert len(box) == 0 and box.take() is None
    # replay the frame as a browser would
    client = {s: dict(v) for s, v in seen.items()}
    for section in ("queues", "agents", "alerts"):
        change = frame.get(section)
        if change:
            for k in change["remove"]:
                client[section].pop(k, None)
            for row in change["upsert"]:
                client[section][row.get("queue") or row.get("agent_id") or row.get("id")] = row
    assert client == prev
    orjson.dumps(frame)  # JSON-able: sets became sorted lists


async def test_changes_before_the_snapshot_is_sent_fold_into_it() -> None:
    box = Mailbox()
    box.put_snapshot(state(queues={"q": {"queue": "q", "waiting": 0}}), NOW, True)
    box.put_changes({"queues": {"upsert": {"q": {"queue": "q", "waiting": 5}}, "remove": set()}}, NOW + 100, False)
    frame = box.take()
    assert frame == {
        "type": "snapshot",
        "server_ts": NOW + 100,
        "ready": False,
        "queues": [{"queue": "q", "waiting": 5}],
        "agents": [],
        "alerts": [],
    }


async def test_mailbox_wait() -> None:
    box = Mailbox()
    assert await box.wait(0.01) is False
    asyncio.get_running_loop().call_later(0.01, box.put_changes, {}, NOW, True)
    assert await box.wait(1) is True
    box.take()
    asyncio.get_running_loop().call_later(0.01, box.put_ping, SharedFrame(ping_frame(NOW, True)))
    assert await asyncio.wait_for(box.wait(), 1) is True  # no timeout of its own: the hub pings
    assert box.take() == {"type": "ping", "server_ts": NOW, "ready": True}


Q1 = {"queues": {"upsert": {"q": {"queue": "q", "waiting": 1}}, "remove": set()}}
Q2 = {"queues": {"upsert": {"q": {"queue": "q", "waiting": 2}}, "remove": {"old"}}}


def test_shared_frame_serialises_once() -> None:
    frame = delta_frame(Q1, NOW, True)
    shared = SharedFrame(frame)
    assert shared.text() is shared.text()
    assert (
        orjson.loads(shared.text())
        == orjson.loads(encode(frame))
        == {
            "type": "delta",
            "server_ts": NOW,
            "ready": True,
            "queues": {"upsert": [{"queue": "q", "waiting": 1}], "remove": []},
        }
    )


def test_mailbox_sends_the_shared_frame_only_from_an_empty_slot() -> None:
    # empty slot: the hub's frame, the very same object and text for every mailbox
    shared = SharedFrame(delta_frame(Q1, NOW, True))
    a, b = Mailbox(), Mailbox()
    a.put_changes(Q1, NOW, True, shared)
    b.put_changes(Q1, NOW, True, shared)
    assert a.take_text() is b.take_text() is shared.text()
    assert len(a) == len(b) == 0 and a.take_text() is None

    # changes already pending: a merged frame of its own, never the newer shared one
    a.put_changes(Q1, NOW, True, SharedFrame(delta_frame(Q1, NOW, True)))
    later = SharedFrame(delta_frame(Q2, NOW + 100, True))
    a.put_changes(Q2, NOW + 100, True, later)
    own = a.take()
    assert own is not later.frame and own == delta_frame(merge(Q1, Q2), NOW + 100, True)
    assert a.merged == 1

    # a pending snapshot absorbs the changes: still a snapshot
    a.put_snapshot(state(queues={"old": {"queue": "old"}}), NOW, True)
    a.put_changes(Q2, NOW + 200, False, SharedFrame(delta_frame(Q2, NOW + 200, False)))
    assert a.take() == {
        "type": "snapshot",
        "server_ts": NOW + 200,
        "ready": False,
        "queues": [{"queue": "q", "waiting": 2}],
        "agents": [],
        "alerts": [],
    }

    # a clock that went back: the slot keeps its later stamp, so not the shared frame
    a.put_changes(Q1, NOW + 100, True, SharedFrame(delta_frame(Q1, NOW + 100, True)))
    assert a.take()["server_ts"] == NOW + 200


def test_ping_only_into_an_empty_slot_and_changes_replace_it() -> None:
    box, ping = Mailbox(), SharedFrame(ping_frame(NOW, True))
    box.put_changes(Q1, NOW, True)
    assert box.put_ping(ping) is False and len(box) == 1
    assert box.take()["type"] == "delta"
    assert box.put_ping(ping) is True and len(box) == 1
    assert box.take_text() is ping.text()
    box.put_ping(ping)
    box.put_changes(Q2, NOW + 5, True)
    assert box.take() == delta_frame(Q2, NOW + 5, True) and box.take() is None


def test_filters() -> None:
    full = state(
        queues={"q1": {"queue": "q1"}, "q2": {"queue": "q2"}},
        agents={
            "a1": {"agent_id": "a1", "team": "north", "queues": ["q1"]},
            "a2": {"agent_id": "a2", "team": "south", "queues": ["q2"]},
        },
        alerts={
            "x1": {"id": "x1", "kind": "adherence_break", "subject": "a1"},
            "x2": {"id": "x2", "kind": "adherence_break", "subject": "a2"},
            "x3": {"id": "x3", "kind": "queue_waiting", "subject": "q2"},
        },
    )
    assert select(full, Filter()) is full
    by_queue = select(full, parse_filter("q2", None))
    assert (set(by_queue["queues"]), set(by_queue["agents"]), set(by_queue["alerts"])) == ({"q2"}, {"a2"}, {"x2", "x3"})
    by_team = select(full, parse_filter(None, "north"))
    assert (set(by_team["queues"]), set(by_team["agents"]), set(by_team["alerts"])) == (
        {"q1", "q2"},
        {"a1"},
        {"x1", "x3"},
    )
    both = select(full, parse_filter("q1,q2", "south"))
    assert (set(both["queues"]), set(both["agents"]), set(both["alerts"])) == ({"q1", "q2"}, {"a2"}, {"x2", "x3"})
    for bad in (("", None), (",", None), ("x" * 300, None), (",".join(["q"] * 51), None), (None, "t" * 300)):
        with pytest.raises(BadFilter):
            parse_filter(*bad)


def make_hub(view: View, now: list[int], mono: list[float] | None = None) -> Hub:
    mono = mono if mono is not None else [0.0]
    return Hub(
        view, Settings(timezone="Asia/Shanghai", queues=[{"id": "q1"}]), lambda: now[0], monotonic=lambda: mono[0]
    )


def agent(agent_id: str, st_: str, team: str = "north") -> bytes:
    return orjson.dumps(
        {"agent_id": agent_id, "name": agent_id, "team": team, "queues": ["q1"], "state": st_, "since_ms": NOW - 1000}
    )


async def test_hub_pushes_only_changes_and_not_every_tick() -> None:
    view, now = View(), [NOW]
    view.apply(topics.AGENT_STATUS, b"a1", agent("a1", "available"))
    hub = make_hub(view, now)
    sub = hub.subscribe(Filter())
    snap = sub.mailbox.take()
    assert snap["type"] == "snapshot" and [a["agent_id"] for a in snap["agents"]] == ["a1"]
    assert [q["queue"] for q in snap["queues"]] == ["q1"]
    # time passes, nothing changes: no frames (time in state ticks in the browser)
    for _i in range(30):
        now[0] += 100
        assert hub.step() == 0
    view.apply(topics.AGENT_STATUS, b"a1", agent("a1", "aux"))
    view.apply(topics.AGENT_STATUS, b"a2", agent("a2", "available", "south"))
    assert hub.step() == 1
    frame = sub.mailbox.take()
    assert set(frame) == {"type", "server_ts", "ready", "agents", "queues"}  # q1 staffing changed too
    assert sorted(a["agent_id"] for a in frame["agents"]["upsert"]) == ["a1", "a2"]
    view.apply(topics.AGENT_STATUS, b"a2", None)
    hub.step()
    assert sub.mailbox.take()["agents"] == {"upsert": [], "remove": ["a2"]}
    hub.unsubscribe(sub)
    assert hub.clients == 0 and hub.last == {}
    await hub.stop()


async def test_hub_longest_wait_moves_once_per_second() -> None:
    view, now = View(), [NOW]
    view.apply(
        topics.QUEUE_STATS,
        b"q1|0",
        orjson.dumps(
            {"queue": "q1", "partition": 0, "waiting": 1, "oldest_waiting_ms": NOW - 10_000, "computed_ms": NOW}
        ),
    )
    hub = make_hub(view, now)
    sub = hub.subscribe(Filter())
    q = sub.mailbox.take()["queues"][0]
    assert q["longest_wait_s"] == 10.0 and q["oldest_waiting"] == "2024-03-05T10:17:20+08:00"
    frames = []
    for _ in range(25):  # 2.5 s in 100 ms ticks
        now[0] += 100
        if hub.step():
            frames.append(sub.mailbox.take())
    assert [f["queues"]["upsert"][0]["longest_wait_s"] for f in frames] == [11.0, 12.0]
    await hub.stop()


async def test_hub_filters_share_work_and_slow_subscriber_does_not_block() -> None:
    view, now = View(), [NOW]
    hub = make_hub(view, now)
    fast = hub.subscribe(parse_filter(None, "north"))
    slow = hub.subscribe(parse_filter(None, "north"))
    other = hub.subscribe(parse_filter(None, "south"))
    for box in (fast.mailbox, slow.mailbox, other.mailbox):
        box.take()
    for i in range(50):
        view.apply(topics.AGENT_STATUS, b"a1", agent("a1", "available" if i % 2 else "aux"))
        hub.step()
        frame = fast.mailbox.take()
        assert frame["agents"]["upsert"][0]["state"] == ("available" if i % 2 else "aux")
        assert len(slow.mailbox) == 1  # never taken: one pending frame
    assert "agents" not in other.mailbox.take()  # a south wallboard sees q1's staffing move, no north agent
    assert slow.mailbox.take()["agents"]["upsert"][0]["state"] == "available"
    await hub.stop()


async def test_hub_serialises_each_frame_once_per_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Subscribers of a filter whose slot was empty send one shared text; one that still had a
    frame pending gets its own merged frame, which still reaches the latest state."""
    encoded: list[dict] = []

    def counting_encode(frame: dict) -> str:
        encoded.append(frame)
        return encode(frame)

    monkeypatch.setattr(api_live, "encode", counting_encode)
    view, now = View(), [NOW]
    view.apply(topics.AGENT_STATUS, b"a1", agent("a1", "available"))
    hub = make_hub(view, now)
    idle = [hub.subscribe(Filter()) for _ in range(5)]
    slow = hub.subscribe(Filter())
    south = [hub.subscribe(parse_filter(None, "south")) for _ in range(3)]
    for sub in (*idle, slow, *south):
        sub.mailbox.take_text()
    assert len(encoded) == 9  # snapshots are per client

    view.apply(topics.AGENT_STATUS, b"a1", agent("a1", "aux"))
    assert hub.step() == 9
    del encoded[:]
    texts = [sub.mailbox.take_text() for sub in idle]
    assert all(t is texts[0] for t in texts) and len(encoded) == 1
    south_texts = {id(sub.mailbox.take_text()) for sub in south}
    assert len(south_texts) == 1 and len(encoded) == 2  # one more: the south filter's frame
    assert orjson.loads(texts[0])["agents"]["upsert"][0]["state"] == "aux"

    view.apply(topics.AGENT_STATUS, b"a2", agent("a2", "available", "south"))
    hub.step()  # slow has not sent its frame yet: a merge of both changes
    del encoded[:]
    own = slow.mailbox.take_text()
    assert own is not idle[0].mailbox.take_text() and len(encoded) == 2
    frame = orjson.loads(own)
    upserts = sorted((a["agent_id"], a["state"]) for a in frame["agents"]["upsert"])
    assert upserts == [("a1", "aux"), ("a2", "available")]
    assert slow.mailbox.merged == 1
    await hub.stop()


async def test_hub_heartbeat_per_filter_after_ping_s_without_a_push() -> None:
    view, now, mono = View(), [NOW], [100.0]
    hub = make_hub(view, now, mono)
    hub.ping_s = 5.0
    subs = [hub.subscribe(Filter()) for _ in range(3)]
    for sub in subs[:2]:
        sub.mailbox.take()  # subs[2] still holds its snapshot
    mono[0] += 4.9
    assert hub.step() == 0 and all(len(s.mailbox) == 0 for s in subs[:2])
    mono[0] += 0.1
    now[0] += 5000
    assert hub.step() == 2  # a pending frame is fresher than a heartbeat
    pings = [s.mailbox.take_text() for s in subs]
    assert pings[0] is pings[1]
    assert orjson.loads(pings[0]) == {"type": "ping", "server_ts": NOW + 5000, "ready": True}
    assert orjson.loads(pings[2])["type"] == "snapshot"
    mono[0] += 4.0
    assert hub.step() == 0
    view.apply(topics.AGENT_STATUS, b"a1", agent("a1", "available"))
    mono[0] += 2.0  # 6 s after the last ping, but a delta went out just now
    assert hub.step() == 3 and all(s.mailbox.take()["type"] == "delta" for s in subs)
    mono[0] += 4.9
    assert hub.step() == 0
    mono[0] += 0.1
    assert hub.step() == 3 and all(s.mailbox.take()["type"] == "ping" for s in subs)
    await hub.stop()


def test_gap_after_keeps_the_frame_budget() -> None:
    assert gap_after(0, 10_000) == gap_after(1, 10_000) == gap_after(250, 10_000) == 0.025
    assert gap_after(1000, 10_000) == pytest.approx(0.1)
    assert gap_after(3000, 10_000) == pytest.approx(0.3)
    assert gap_after(1000, 10_000, min_gap_s=0.2) == 0.2


async def test_hub_spaces_its_steps_by_the_frames_it_queued() -> None:
    """A changing view and 20 clients with a budget of 100 frames/s: a step every 0.2 s, not
    every 25 ms."""
    view, now = View(), [NOW]
    hub = Hub(
        view, Settings(timezone="Asia/Shanghai", queues=[{"id": "q1"}], api={"ws_frames_per_s": 100}), lambda: now[0]
    )
    subs = [hub.subscribe(Filter()) for _ in range(20)]
    started = hub.ticks
    t0 = time.monotonic()
    for i in range(60):  # ~0.6 s of changes every 10 ms, each a new agent: never a step without one
        view.apply(topics.AGENT_STATUS, f"a{i}".encode(), agent(f"a{i}", "available"))
        for sub in subs:
            sub.mailbox.take()
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - t0  # more than 0.6 s on a loaded machine
    steps = hub.ticks - started
    # 20 frames a step at 100 frames/s: a step per 0.2 s (+ the first and one in flight);
    # steps 25 ms apart would be elapsed / 0.025 (24 or more)
    assert 1 <= steps <= elapsed / 0.2 + 2, (steps, elapsed)
    assert steps < elapsed / 0.025 / 2, (steps, elapsed)
    await hub.stop()


def test_hub_rebuilds_only_changed_sections_and_equals_full_state() -> None:
    """After any mix of agent, alert and queue changes (renames that move an agent in the
    team/name order, removals, a record whose agent id is not its key, alert acks), the hub's
    state is ``full_state`` of the view, in the same order, while unchanged sections are reused."""
    import random

    from floorwatch.api.live import full_state

    rng = random.Random(5)
    view, now = View(), [NOW]
    hub = make_hub(view, now)
    teams = ("north", "south", "east")
    for i in range(40):
        view.apply(topics.AGENT_STATUS, f"a{i}".encode(), agent(f"a{i}", "available", rng.choice(teams)))
    first = hub.current(now[0])
    assert first == full_state(view, hub.settings, now[0] - now[0] % 1000)
    assert hub.agent_rebuilds == 1
    for step in range(300):
        kind = rng.random()
        if kind < 0.5:
            aid = f"a{rng.randrange(50)}"
            if rng.random() < 0.15:
                view.apply(topics.AGENT_STATUS, aid.encode(), None)
            else:
                record = orjson.loads(agent(aid, rng.choice(("available", "aux", "on_contact")), rng.choice(teams)))
                record["name"] = rng.choice(("Zed", "amy", "Bob", aid))
                view.apply(topics.AGENT_STATUS, aid.encode(), orjson.dumps(record))
        elif kind < 0.6:
            alert_id = f"al{rng.randrange(5)}"
            view.apply(
                topics.ALERTS,
                alert_id.encode(),
                orjson.dumps(
                    {
                        "id": alert_id,
                        "kind": "queue_waiting",
                        "subject": "q1",
                        "state": "firing",
                        "started_at_ms": NOW - rng.randrange(100_000),
                        "value": 3,
                    }
                ),
            )
            if rng.random() < 0.5:
                view.apply(
                    topics.ALERT_ACKS,
                    alert_id.encode(),
                    orjson.dumps({"id": alert_id, "by": "lead", "at_ms": NOW - rng.randrange(1000)}),
                )
        else:
            view.apply(
                topics.QUEUE_STATS,
                b"q1|0",
                orjson.dumps({"queue": "q1", "partition": 0, "waiting": rng.randrange(9), "computed_ms": NOW}),
            )
        if step == 150:  # a record keyed otherwise than its agent id: the section is rebuilt whole
            view.apply(topics.AGENT_STATUS, b"odd-key", agent("a3", "aux"))
        now[0] += rng.choice((0, 40, 400, 1000))
        before = hub.agent_rebuilds
        got = hub.current(now[0])
        want = full_state(view, hub.settings, now[0] - now[0] % 1000)
        assert got == want
        for section in ("queues", "agents", "alerts"):
            assert list(got[section]) == list(want[section])  # frames list rows in this order
        assert hub.agent_rebuilds == before  # the cap was not reached: no full agent rebuild
    view.apply(topics.AGENT_STATUS, b"odd-key", None)


def test_hub_changed_agents_over_the_cap_rebuild_all(monkeypatch: pytest.MonkeyPatch) -> None:
    from floorwatch.api.live import full_state

    monkeypatch.setattr(api_live, "MAX_CHANGED_AGENTS", 3)
    view, now = View(), [NOW]
    hub = make_hub(view, now)
    hub.current(now[0])
    for i in range(5):
        view.apply(topics.AGENT_STATUS, f"a{i}".encode(), agent(f"a{i}", "available"))
    assert hub.current(now[0]) == full_state(view, hub.settings, now[0] - now[0] % 1000)
    assert [r for r in hub.current(now[0])["agents"]] == ["a0", "a1", "a2", "a3", "a4"]
    assert hub.agent_rebuilds == 2  # the first state, then the step past the cap
