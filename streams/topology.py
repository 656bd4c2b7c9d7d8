"""The worker's topics and tables, declared on its Faust app.

Input topics are keyed so that no ``group_by`` is needed; the only persisted state is
per-contact facts (table ``contacts``, co-partitioned with ``fw.contact-events``), per-agent
facts (``agents``, ``agent-days``, co-partitioned with ``fw.agent-events``), FCR projections per
customer (``customers``) and final FCR figures (``fcr-final``), co-partitioned with
``fw.customer-contacts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
from faust.types import SchemaT

from floorwatch import topics
from floorwatch.config import Settings
from floorwatch.streams.packed_store import packed_store_url


@dataclass(frozen=True)
class Topics:
    contacts: faust.TopicT  # fw.contact-events
    agents: faust.TopicT  # fw.agent-events
    schedules: faust.TopicT
    forecasts: faust.TopicT
    customers: faust.TopicT  # fw.customer-contacts (internal)
    out: dict[str, faust.TopicT]  # output topic name -> topic


@dataclass(frozen=True)
class Tables:
    # Faust's tables; typed Any: the workers read and write their ``data`` store directly
    contacts: Any
    agents: Any
    agent_days: Any
    customers: Any
    fcr_final: Any


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    partitions = settings.kafka.partitions

    def topic(name: str, n: int = partitions) -> faust.TopicT:
        return app.topic(
            name, key_type=bytes, value_type=bytes, partitions=n, key_serializer="raw", value_serializer="raw"
        )

    contact_topic = topic(topics.CONTACT_EVENTS)
    agent_topic = topic(topics.AGENT_EVENTS)
    schedule_topic = topic(topics.SCHEDULES)
    forecast_topic = topic(topics.FORECASTS)
    customer_topic = topic(topics.CUSTOMER_CONTACTS)
    out = {name: topic(name, settings.kafka.output_partitions) for name in topics.OUTPUTS}
    return Topics(contact_topic, agent_topic, schedule_topic, forecast_topic, customer_topic, out)


def declare_tables(app: faust.App, settings: Settings) -> Tables:
    w = settings.worker
    partitions = settings.kafka.partitions
    json_schema: SchemaT = faust.Schema(key_type=str, key_serializer="json", value_serializer="json")
    # values: the packed facts (floorwatch.domain.factcodec), kept as bytes in memory
    # (Faust takes a table's serializers from key_type/value_type: bytes is "raw")
    packed_schema: SchemaT = faust.Schema(key_type=str, key_serializer="json", value_type=bytes, value_serializer="raw")
    # on the memory store: a PackedMap (floorwatch.packedmap), ~125 bytes a contact
    contacts = app.Table(
        "contacts",
        default=None,
        partitions=partitions,
        schema=packed_schema,
        key_type=str,
        value_type=bytes,
        store=packed_store_url(w.contacts_hot_keys) if w.store == "memory" else None,
    )
    agents = app.Table("agents", default=None, partitions=partitions, schema=json_schema)
    agent_days = app.Table("agent-days", default=None, partitions=partitions, schema=json_schema)
    # hashed customer -> {"_p": partition, "c": {contact_id: fcr projection}}
    # held as the changelog's JSON bytes (parsed on use): ~300 bytes a customer instead of ~900
    customers = app.Table(
        "customers", default=None, partitions=partitions, schema=packed_schema, key_type=str, value_type=bytes
    )
    # "date|partition" -> JSON bytes {"_p", "c": {"queue|start_ms": [4 FCR counts]}, "a": {agent:
    # [eligible, resolved]}}: the final FCR figures of a local date's folded intervals, one record
    # per date and partition, kept as bytes (floorwatch.domain.fcr, finality); a legacy record
    # "queue|start|partition" -> {"_p", "c": [4 counts], "a"?} of one interval is still read
    fcr_final = app.Table(
        "fcr-final", default=None, partitions=partitions, schema=packed_schema, key_type=str, value_type=bytes
    )
    return Tables(contacts, agents, agent_days, customers, fcr_final)
