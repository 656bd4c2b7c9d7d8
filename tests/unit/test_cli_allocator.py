"""`floorwatch worker` restarts itself once onto the allocator of ``worker.object_allocator``."""

from __future__ import annotations

import sys

import pytest

from floorwatch.cli import allocator_restart
from floorwatch.config import Settings


def settings_with(allocator: str) -> Settings:
    s = Settings()
    return s.model_copy(update={"worker": s.worker.model_copy(update={"object_allocator": allocator})})


def test_the_c_allocator_is_the_default_and_restarts_with_the_same_arguments() -> None:
    assert Settings().worker.object_allocator == "malloc"
    argv = ["worker", "--data-dir", "/srv/fw", "--loglevel", "info"]
    assert allocator_restart(Settings(), {}, argv) == [sys.executable, "-m", "floorwatch.cli", *argv]


def test_no_restart_once_pythonmalloc_is_set_or_for_pythons_allocator() -> None:
    argv = ["worker"]
    # the restarted process has PYTHONMALLOC=malloc: it must not restart again
    assert allocator_restart(settings_with("malloc"), {"PYTHONMALLOC": "malloc"}, argv) is None
    # whoever started it chose an allocator: that choice wins
    assert allocator_restart(settings_with("malloc"), {"PYTHONMALLOC": "pymalloc"}, argv) is None
    assert allocator_restart(settings_with("pymalloc"), {}, argv) is None


class Replaced(Exception):
    pass


def test_only_a_process_started_with_its_own_command_line_replaces_itself(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import floorwatch.cli as cli

    calls: list[tuple] = []

    def execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        calls.append((path, argv, env.get("PYTHONMALLOC")))
        raise Replaced

    monkeypatch.setattr(cli.os, "execve", execve)
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    monkeypatch.delenv("FLOORWATCH_PRIVACY__CUSTOMER_HASH_KEY", raising=False)
    monkeypatch.setattr(cli.sys, "argv", ["/usr/local/bin/floorwatch", "worker", "--loglevel", "warning"])
    monkeypatch.chdir(tmp_path)  # nothing may be created in the repository if it went further
    defaults = Settings()
    # no customer hash key, whatever the environment of the test run holds: the worker stops there
    settings = defaults.model_copy(update={"privacy": defaults.privacy.model_copy(update={"customer_hash_key": ""})})
    args = cli.build_parser().parse_args(["worker"])
    args.may_restart = True  # main() without argv: the process's own command line
    with pytest.raises(Replaced):
        cli._cmd_worker(settings, args)
    assert calls == [
        (sys.executable, [sys.executable, "-m", "floorwatch.cli", "worker", "--loglevel", "warning"], "malloc")
    ]
    calls.clear()
    args.may_restart = False  # main(argv) called by a program: the worker runs in that process
    assert cli._cmd_worker(settings, args) == 2  # stops at the missing customer hash key
    assert calls == []
