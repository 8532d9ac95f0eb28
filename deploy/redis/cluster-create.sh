#!/bin/sh
# redis-init of deploy/compose.yaml: joins the six nodes (3 masters, 3
# replicas) as the admin user once; a second run finds the cluster formed and
# does nothing. Compose starts it when every node is healthy. REDIS_NODES
# lists host:port of the nodes (IP addresses: `redis-cli --cluster create` of
# Redis 7.0 joins nodes by IP). Only sh builtins and redis-cli: the image
# `make images` builds holds nothing else.
set -eu
: "${REDIS_ADMIN_PASSWORD:?}" "${REDIS_NODES:?}"
export REDISCLI_AUTH="$REDIS_ADMIN_PASSWORD" # not on the command line
cli() { redis-cli --user admin --no-auth-warning "$@"; }
ok() { case "$(cli -h "${1%:*}" -p "${1#*:}" cluster info 2>&1)" in *cluster_state:ok*) return 0 ;; esac; return 1; }
first=${REDIS_NODES%% *}
if ok "$first"; then
  echo "redis-init: cluster already formed"
  exit 0
fi
# shellcheck disable=SC2086 # one node per word
cli --cluster create $REDIS_NODES --cluster-replicas 1 --cluster-yes
# Done when every node sees the cluster ok (slots assigned, replicas
# attached), so the peers started after this find a working cluster. The
# pause between tries is redis-cli's own (-r 1 -i: one PING, then wait).
for node in $REDIS_NODES; do
  n=0
  until ok "$node"; do
    n=$((n + 1))
    if [ "$n" -ge 120 ]; then echo "redis-init: $node never saw cluster_state:ok" >&2; exit 1; fi
    cli -h "${first%:*}" -p "${first#*:}" -r 1 -i 0.5 ping >/dev/null
  done
done
echo "redis-init: cluster formed"
