"""``floorwatch worker`` refuses to start without the customer hash key (exit 2, one line)."""

from __future__ import annotations

from typing import Any

import pytest

from floorwatch import cli

pytestmark = pytest.mark.usefixtures("isolated_config")


def test_worker_without_customer_hash_key_exits_2_naming_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["worker"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "FLOORWATCH_PRIVACY__CUSTOMER_HASH_KEY" in err
    assert err.startswith("floorwatch worker: privacy.customer_hash_key is not set")


def test_worker_with_the_key_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    import floorwatch.services.broker as services_broker
    import floorwatch.streams.app as streams_app

    started: list[Any] = []

    class FakeFaustApp:
        def main(self) -> None:
            started.append("main")

    async def no_topics(*args: Any, **kwargs: Any) -> None:
        started.append("topics")

    def fake_create_app(settings: Any) -> FakeFaustApp:
        started.append(settings.privacy.customer_hash_key)
        return FakeFaustApp()

    monkeypatch.setenv("FLOORWATCH_PRIVACY__CUSTOMER_HASH_KEY", "k" * 32)
    monkeypatch.setattr(services_broker, "create_topics", no_topics)
    monkeypatch.setattr(streams_app, "create_app", fake_create_app)
    monkeypatch.setattr(cli, "use_event_loop", lambda name: None)
    monkeypatch.setattr(cli, "start_gc_policy", lambda gc: None)
    monkeypatch.setattr("sys.argv", ["floorwatch"])
    assert cli.main(["worker"]) == 0
    assert started == ["topics", "k" * 32, "main"]
