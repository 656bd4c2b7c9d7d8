#!/usr/bin/env bash
# Creates the Floorwatch topics on a real Kafka before the workers start (idempotent).
# Workers on a cluster create no topics (kafka.create_topics is false in deploy/floorwatch.yaml,
# and off by default for any non-loopback Kafka): they wait, logging the missing topics, until
# this has created every one with the replication factor and configs production needs.
#   BOOTSTRAP=kafka:9092 PARTITIONS=8 REPLICATION=3 deploy/kafka/create-topics.sh
# Runs in the apache/kafka image (kafka-topics.sh at /opt/kafka/bin).
set -euo pipefail
BOOTSTRAP="${BOOTSTRAP:-kafka:9092}"
PARTITIONS="${PARTITIONS:-8}"
REPLICATION="${REPLICATION:-3}"
MIN_ISR="${MIN_ISR:-$(( REPLICATION > 1 ? 2 : 1 ))}"
RETENTION_DAYS="${RETENTION_DAYS:-7}"         # input topics: replay window after an outage
KT="${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}"

for i in $(seq 1 60); do
  "$KT" --bootstrap-server "$BOOTSTRAP" --list >/dev/null 2>&1 && break
  echo "waiting for kafka at $BOOTSTRAP ($i)"; sleep 2
done

create_n() {  # partitions, name, configs...
  local partitions="$1" name="$2"; shift 2
  local args=()
  for c in "$@"; do args+=(--config "$c"); done
  "$KT" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "$name" \
    --partitions "$partitions" --replication-factor "$REPLICATION" \
    --config "min.insync.replicas=$MIN_ISR" "${args[@]}"
}
create() {  # name, configs...  (PARTITIONS partitions)
  create_n "$PARTITIONS" "$@"
}

retention_ms=$(( RETENTION_DAYS * 86400000 ))
# inputs: time-based retention (the contact facts live in the worker tables, not here)
for t in fw.contact-events fw.agent-events fw.schedules fw.forecasts fw.customer-contacts; do
  create "$t" "cleanup.policy=delete" "retention.ms=$retention_ms"
done
# outputs: compacted, last value per key (partials, agent status, adherence, alerts, acks, worker heartbeats)
for t in fw.queue-stats fw.interval-stats fw.agent-status fw.adherence fw.alerts fw.alert-acks fw.quality-stats fw.worker-status; do
  create "$t" "cleanup.policy=compact" "min.cleanable.dirty.ratio=0.1" "segment.ms=3600000" \
    "delete.retention.ms=86400000"
done
# dead letters: plain retention (the API counts them by reason while they are retained)
create fw.dead-letters "cleanup.policy=delete" "retention.ms=$(( 30 * 86400000 ))"
# worker changelogs (Faust would create them with RF 1): compacted, co-partitioned
for t in floorwatch-contacts-changelog floorwatch-agents-changelog floorwatch-agent-days-changelog floorwatch-customers-changelog floorwatch-fcr-final-changelog; do
  create "$t" "cleanup.policy=compact" "min.cleanable.dirty.ratio=0.1"
done
# Faust's leader election (the leader worker runs the queue alerts): one partition
create_n 1 floorwatch-__assignor-__leader "cleanup.policy=delete"
"$KT" --bootstrap-server "$BOOTSTRAP" --list
