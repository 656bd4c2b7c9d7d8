"""``floorwatch api`` hands the API settings to uvicorn (permessage-deflate, event loop) and
starts the GC policy; the worker's event loop choice."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import uvicorn
import uvloop

from floorwatch import cli

pytestmark = pytest.mark.usefixtures("isolated_config")


def run_api(
    monkeypatch: pytest.MonkeyPatch, *argv: str, gc_policies: list[Any] | None = None
) -> tuple[Any, dict[str, Any]]:
    seen: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.append((app, kwargs)))
    monkeypatch.setattr(cli, "start_gc_policy", (gc_policies if gc_policies is not None else []).append)
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)  # leave the root logger alone
    assert cli.main(["api", "--loglevel", "warning", *argv]) == 0
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize(("env", "expected"), [(None, False), ("true", True), ("false", False)])
def test_ws_per_message_deflate_reaches_uvicorn(
    monkeypatch: pytest.MonkeyPatch, env: str | None, expected: bool
) -> None:
    if env is not None:
        monkeypatch.setenv("FLOORWATCH_API__WS_PER_MESSAGE_DEFLATE", env)
    app, kwargs = run_api(monkeypatch)
    assert kwargs["ws_per_message_deflate"] is expected
    # the keyword is one uvicorn's Config knows (a misspelt one raises TypeError here)
    config = uvicorn.Config(app, **kwargs)
    assert config.ws_per_message_deflate is expected


def test_host_and_port_flags_win_over_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOORWATCH_API_PORT", "8123")
    _, kwargs = run_api(monkeypatch)
    assert (kwargs["host"], kwargs["port"]) == ("127.0.0.1", 8123)
    _, kwargs = run_api(monkeypatch, "--host", "0.0.0.0", "--port", "9001")
    assert (kwargs["host"], kwargs["port"]) == ("0.0.0.0", 9001)


def test_api_runs_the_gc_policy_of_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOORWATCH_GC__FREEZE_EVERY_S", "3")
    policies: list[Any] = []
    run_api(monkeypatch, gc_policies=policies)
    assert [(p.freeze_every_s, p.full_collect_every_s) for p in policies] == [(3.0, 86_400.0)]


@pytest.mark.parametrize(("env", "expected"), [(None, "uvloop"), ("asyncio", "asyncio")])
def test_event_loop_reaches_uvicorn(monkeypatch: pytest.MonkeyPatch, env: str | None, expected: str) -> None:
    if env is not None:
        monkeypatch.setenv("FLOORWATCH_API__EVENT_LOOP", env)
    _, kwargs = run_api(monkeypatch)
    assert kwargs["loop"] == expected


@pytest.mark.parametrize(("name", "loop_type"), [("uvloop", uvloop.Loop), ("asyncio", asyncio.SelectorEventLoop)])
def test_use_event_loop_sets_the_loops_of_new_threads_too(name: str, loop_type: type) -> None:
    """Faust's consumer thread makes its loop with ``asyncio.new_event_loop``: it follows."""
    before = asyncio.get_event_loop_policy()
    try:
        asyncio.set_event_loop_policy(None)
        cli.use_event_loop(name)
        loop = asyncio.new_event_loop()
        assert type(loop) is loop_type
        loop.close()
    finally:
        asyncio.set_event_loop_policy(before)
