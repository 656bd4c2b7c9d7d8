"""Pure parts of the websocket push: diff/apply/merge, filters, the latest-state mailbox, the hub."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from hypothesis import given, settings as hsettings
from hypothesis import strategies as st

from api.live import (
    Filter,
    Hub,
    Mailbox,
    BadFilter,
    apply,
    diff,
    merge,
    parse_filter,
    select,
)
from api.view import View
from floorwatch import topics
from floorwatch.config import Settings

NOW = 1_709_605_050_000  # 2024-03-05T10:17:30+08:00


pytestmark = pytest.mark.usefixtures("isolated_config")


def state(queues: dict | None = None, agents: dict | None = None, alerts: dict | None = None) -> dict:
    return {"queues": queues or {}, "agents": agents or {}, "alerts": alerts or {}}


def test_diff_only_what_changed() -> None:
    a = state(queues={"q1": {"queue": "q1", "waiting": 1}, "q2": {"queue": "q2", "waiting": 0}},
              agents={"a1": {"agent_id": "a1", "state": "available"}})
    b = state(queues={"q1": {"queue": "q1", "waiting": 2}, "q2": {"queue": "q2", "waiting": 0}},
              agents={"a2": {"agent_id": "a2", "state": "aux"}})
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
    for prev, cur in zip(seq, seq[1:]):
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
        cur = state(queues={"q": {"queue": "q", "waiting": i}},
                    agents={f"a{i % 7}": {"agent_id": f"a{i % 7}", "n": i}} if i % 3 else {})
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
    assert frame == {"type": "snapshot", "server_ts": NOW + 100, "ready": False,
                     "queues": [{"queue": "q", "waiting": 5}], "agents": [], "alerts": []}


async def test_mailbox_wait() -> None:
    box = Mailbox()
    assert await box.wait(0.01) is False
    asyncio.get_running_loop().call_later(0.01, box.put_changes, {}, NOW, True)
    assert await box.wait(1) is True


def test_filters() -> None:
    full = state(
        queues={"q1": {"queue": "q1"}, "q2": {"queue": "q2"}},
        agents={"a1": {"agent_id": "a1", "team": "north", "queues": ["q1"]},
                "a2": {"agent_id": "a2", "team": "south", "queues": ["q2"]}},
        alerts={"x1": {"id": "x1", "kind": "adherence_break", "subject": "a1"},
                "x2": {"id": "x2", "kind": "adherence_break", "subject": "a2"},
                "x3": {"id": "x3", "kind": "queue_waiting", "subject": "q2"}},
    )
    assert select(full, Filter()) is full
    by_queue = select(full, parse_filter("q2", None))
    assert (set(by_queue["queues"]), set(by_queue["agents"]), set(by_queue["alerts"])) == ({"q2"}, {"a2"}, {"x2", "x3"})
    by_team = select(full, parse_filter(None, "north"))
    assert (set(by_team["queues"]), set(by_team["agents"]), set(by_team["alerts"])) == ({"q1", "q2"}, {"a1"}, {"x1", "x3"})
    both = select(full, parse_filter("q1,q2", "south"))
    assert (set(both["queues"]), set(both["agents"]), set(both["alerts"])) == ({"q1", "q2"}, {"a2"}, {"x2", "x3"})
    for bad in (("", None), (",", None), ("x" * 300, None), (",".join(["q"] * 51), None), (None, "t" * 300)):
        with pytest.raises(BadFilter):
            parse_filter(*bad)


def make_hub(view: View, now: list[int]) -> Hub:
    return Hub(view, Settings(timezone="Asia/Shanghai", queues=[{"id": "q1"}]), lambda: now[0])


def agent(agent_id: str, st_: str, team: str = "north") -> bytes:
    return orjson.dumps({"agent_id": agent_id, "name": agent_id, "team": team, "queues": ["q1"],
                         "state": st_, "since_ms": NOW - 1000})


async def test_hub_pushes_only_changes_and_not_every_tick() -> None:
    view, now = View(), [NOW]
    view.apply(topics.AGENT_STATUS, b"a1", agent("a1", "available"))
    hub = make_hub(view, now)
    sub = hub.subscribe(Filter())
    snap = sub.mailbox.take()
    assert snap["type"] == "snapshot" and [a["agent_id"] for a in snap["agents"]] == ["a1"]
    assert [q["queue"] for q in snap["queues"]] == ["q1"]
    # time passes, nothing changes: no frames (time in state ticks in the browser)
    for i in range(30):
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
    view.apply(topics.QUEUE_STATS, b"q1|0", orjson.dumps({"queue": "q1", "partition": 0, "waiting": 1,
                                                          "oldest_waiting_ms": NOW - 10_000, "computed_ms": NOW}))
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
