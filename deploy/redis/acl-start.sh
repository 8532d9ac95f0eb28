#!/bin/sh
# Starts a node of the compose Redis Cluster with ACL users (deploy/compose.yaml
# mounts this file; the official redis image and the one `make images` builds
# both run it). The users are written, from the environment, to a config file
# only the redis user can read, so no password shows on a command line:
#
#   default       off: an unauthenticated client can run nothing (NOAUTH).
#   admin         every command and key: cluster creation (redis-init) and
#                 operators. REDIS_ADMIN_PASSWORD.
#   replication   what a replica needs of its master (PSYNC, REPLCONF, PING).
#                 REDIS_REPLICATION_PASSWORD; masteruser/masterauth below.
#   <service>     one per service, keys catga:<service>:* only (the saga
#                 store of libs/catga/sagastore/redis, prefix catga:<service>),
#                 the data commands that store runs (also inside its Lua
#                 scripts, which Redis checks against the same rules) and
#                 what go-redis' cluster client needs to connect and follow
#                 slots. No admin, no FLUSH*, no CONFIG, no KEYS, no pub/sub.
#                 REDIS_<SERVICE>_PASSWORD.
#
# Passwords must not contain spaces (openssl rand -hex 24 is a good source).
# Arguments are passed on to redis-server (e.g. --cluster-enabled yes).
set -eu
: "${REDIS_ADMIN_PASSWORD:?}" "${REDIS_REPLICATION_PASSWORD:?}"
: "${REDIS_ORDER_PASSWORD:?}" "${REDIS_PAYMENT_PASSWORD:?}"
: "${REDIS_INVENTORY_PASSWORD:?}" "${REDIS_NOTIFICATION_PASSWORD:?}"

# The commands of the saga store (data) and of a cluster client (connection).
data='+eval +evalsha +wait +multi +exec +discard +exists +hexists +hget +hmget +hset +hsetnx +pexpire +time +set +zadd +zrange +zrangebyscore +zrem +zscore +scan'
conn='+hello +auth +ping +echo +client|setname +client|id +command +cluster|slots +cluster|shards +cluster|nodes +cluster|info +readonly +readwrite +asking'

umask 077
conf=/tmp/catga-redis.conf
{
  echo "user default off resetkeys resetchannels -@all"
  echo "user admin on >$REDIS_ADMIN_PASSWORD ~* &* +@all"
  echo "user replication on >$REDIS_REPLICATION_PASSWORD resetkeys resetchannels -@all +psync +replconf +ping"
  echo "masteruser replication"
  echo "masterauth $REDIS_REPLICATION_PASSWORD"
  echo "user order on >$REDIS_ORDER_PASSWORD resetkeys ~catga:order:* resetchannels -@all $data $conn"
  echo "user payment on >$REDIS_PAYMENT_PASSWORD resetkeys ~catga:payment:* resetchannels -@all $data $conn"
  echo "user inventory on >$REDIS_INVENTORY_PASSWORD resetkeys ~catga:inventory:* resetchannels -@all $data $conn"
  echo "user notification on >$REDIS_NOTIFICATION_PASSWORD resetkeys ~catga:notification:* resetchannels -@all $data $conn"
} >"$conf"
exec redis-server "$conf" "$@"
