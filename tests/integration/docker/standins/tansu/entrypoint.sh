#!/bin/sh
# Tansu has one listener and advertises one address, where Apache Kafka in compose.yaml has
# two (kafka:9092 for containers, localhost:KAFKA_HOST_PORT for the host). The container's
# own address on the compose network is reachable from both the other containers and the
# Docker host, so that is what it advertises. KAFKA_* variables of compose.yaml are ignored.
set -eu
address=$(hostname -i | awk '{print $1}')
unset LISTENER_URL ADVERTISED_LISTENER_URL STORAGE_ENGINE
exec /usr/local/bin/tansu broker \
    --cluster-id "${CLUSTER_ID:-tansu}" \
    --listener-url tcp://0.0.0.0:9092 \
    --advertised-listener-url "tcp://${address}:9092" \
    --storage-engine memory://tansu/ "$@"
