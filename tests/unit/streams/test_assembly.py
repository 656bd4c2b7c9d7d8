"""create_app assembles the parts: the five input agents on their topics, the five tables."""

from __future__ import annotations

import pytest

from floorwatch import topics
from floorwatch.config import Settings
from floorwatch.streams.app import create_app


@pytest.mark.usefixtures("isolated_config")
def test_create_app_registers_one_agent_per_input_topic_and_the_tables() -> None:
    app = create_app(Settings(privacy={"customer_hash_key": "k" * 32}))
    assert {name: tuple(agent.channel.topics) for name, agent in app.agents.items()} == {
        "contact-events": (topics.CONTACT_EVENTS,),
        "customer-contacts": (topics.CUSTOMER_CONTACTS,),
        "agent-events": (topics.AGENT_EVENTS,),
        "schedules": (topics.SCHEDULES,),
        "forecasts": (topics.FORECASTS,),
    }
    assert list(app.tables) == ["contacts", "agents", "agent-days", "customers", "fcr-final"]


@pytest.mark.usefixtures("isolated_config")
def test_the_consumer_fetches_a_quarter_mebibyte_per_partition_unless_configured() -> None:
    """The last fetch of each changelog partition stays buffered while it is paused after
    recovery: Faust's 1 MiB default held ~27 MB at 1 M retained contacts."""
    key = {"customer_hash_key": "k" * 32}
    assert create_app(Settings(privacy=key)).conf.consumer_max_fetch_size == 262_144
    wider = Settings(privacy=key, worker={"consumer_max_fetch_bytes": 1 << 20})
    assert create_app(wider).conf.consumer_max_fetch_size == 1_048_576
    with pytest.raises(ValueError):
        Settings(worker={"consumer_max_fetch_bytes": 1_000})
