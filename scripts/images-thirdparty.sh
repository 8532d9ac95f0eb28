#!/usr/bin/env bash
# Builds the third-party images the e2e topology and deploy/compose.yaml use,
# without a registry:
#
#   nats      FROM scratch: a static nats-server built from the Go module
#             version pinned in deploy/nats/go.mod.
#   redis     redis-server and redis-cli of the host's Debian packages.
#   postgres  PostgreSQL 15 of the host's Debian packages.
#
# The Debian images hold the files of the installed packages (dpkg -L) plus
# the shared libraries their programs load (ldd), a /bin/sh for the
# entrypoint, and are made with `docker import`. The packages come from the
# host's own apt sources (scripts/install-deps.sh installs them): no mirror
# host is named here.
#
# Image names default to the official ones and are overridden by
# CATGA_IMAGE_NATS, CATGA_IMAGE_REDIS and CATGA_IMAGE_POSTGRES (the e2e
# topology reads the same variables with the same defaults). When the name
# is already present and is not a local build, or can be pulled, it is left
# alone; otherwise the local build is tagged with it. Every build is also
# tagged catga/<name>-local:<version>.
#
# Each image is then started once and must answer: nats-server with
# JetStream, redis-server PING, PostgreSQL initdb + start (as a non-root
# user) and pg_isready.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-go}
NATS_IMAGE=${CATGA_IMAGE_NATS:-nats:2.15}
REDIS_IMAGE=${CATGA_IMAGE_REDIS:-redis:7}
POSTGRES_IMAGE=${CATGA_IMAGE_POSTGRES:-postgres:15}
# The PostgreSQL the host installed (scripts/install-deps.sh): the newest there.
PG_VERSION=${PG_VERSION:-$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n1)}
PG_BIN=/usr/lib/postgresql/$PG_VERSION/bin
LOCAL_LABEL=org.catga.local-build

work=$(mktemp -d)
cleanup() {
  # The rootfs trees are owned by the image users: plain rm as root.
  rm -rf "$work"
  [ -n "${verify_ctr:-}" ] && docker rm -f -v "$verify_ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# wanted NAME: true when NAME must come from the local build (absent, not
# pullable, or an earlier local build).
wanted() {
  local name=$1
  if docker image inspect "$name" >/dev/null 2>&1; then
    [ "$(docker image inspect -f "{{index .Config.Labels \"$LOCAL_LABEL\"}}" "$name")" = "true" ]
    return
  fi
  if timeout 60 docker pull -q "$name" >/dev/null 2>&1; then
    echo "   $name pulled"
    return 1
  fi
  return 0
}

# put ROOTFS FILE: FILE copied to the same path under ROOTFS, keeping its
# mode and owner (a symlink stays a symlink).
put() {
  mkdir -p "$1$(dirname "$2")"
  cp -a "$2" "$1$2"
}

# copy_elf ROOTFS FILE...: FILE (keeping its path) and every shared library
# it loads, symlinks resolved to regular files at the path the loader asks.
copy_elf() {
  local rootfs=$1; shift
  local f lib
  for f in "$@"; do
    put "$rootfs" "$f"
    if [ -L "$f" ]; then put "$rootfs" "$(readlink -f "$f")"; fi
    { ldd "$f" 2>/dev/null || true; } | { grep -oE '/[^ ]+' || true; } | while read -r lib; do
      [ -e "$rootfs$lib" ] || { mkdir -p "$rootfs$(dirname "$lib")"; cp -L "$lib" "$rootfs$lib"; }
    done
  done
}

# base_rootfs DIR UID NAME: the merged-/usr layout of Debian (/bin, /lib,
# /lib64 and /sbin link into /usr), /etc/passwd and /etc/group with root and
# the image user, /tmp, and /bin/sh with its libraries.
base_rootfs() {
  local rootfs=$1 uid=$2 name=$3 d
  mkdir -p "$rootfs/etc" "$rootfs/tmp"
  for d in bin lib lib64 sbin; do mkdir -p "$rootfs/usr/$d"; ln -s "usr/$d" "$rootfs/$d"; done
  chmod 1777 "$rootfs/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\n%s:x:%s:%s:%s:/nonexistent:/bin/sh\n' "$name" "$uid" "$uid" "$name" >"$rootfs/etc/passwd"
  printf 'root:x:0:\n%s:x:%s:\n' "$name" "$uid" >"$rootfs/etc/group"
  copy_elf "$rootfs" /bin/sh
}

# import ROOTFS NAME TAG CHANGES...: docker import with a label marking a
# local build, tagged catga/NAME-local:TAG and, when wanted, the image name.
import() {
  local rootfs=$1 name=$2 tag=$3 target=$4; shift 4
  local changes=(--change "LABEL $LOCAL_LABEL=true")
  for c in "$@"; do changes+=(--change "$c"); done
  tar -C "$rootfs" -c . | docker import "${changes[@]}" - "catga/$name-local:$tag" >/dev/null
  docker tag "catga/$name-local:$tag" "$target"
  echo "   $target = catga/$name-local:$tag ($(docker image inspect -f '{{.Size}}' "$target" | awk '{printf "%.1f MB", $1/1e6}'))"
}

# verify NAME CMD...: polls CMD (a docker exec in $verify_ctr) for up to 30 s.
verify() {
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then echo "   $what: ok"; docker rm -f -v "$verify_ctr" >/dev/null; verify_ctr=; return; fi
    sleep 0.5
  done
  echo "   $what: FAILED; container log:"; docker logs "$verify_ctr" 2>&1 | tail -20
  exit 1
}

build_nats() {
  local t0=$SECONDS rootfs=$work/nats version
  echo "== image $NATS_IMAGE (nats-server FROM scratch)"
  wanted "$NATS_IMAGE" || return 0
  mkdir -p "$rootfs/tmp" "$rootfs/data" "$rootfs/etc"
  chmod 1777 "$rootfs/tmp"
  (cd "$root/deploy/nats" && GOWORK=off CGO_ENABLED=0 $GO build -trimpath -ldflags='-s -w' \
    -o "$rootfs/nats-server" github.com/nats-io/nats-server/v2)
  cp "$root/deploy/nats/nats-server.conf" "$rootfs/nats-server.conf"
  chown -R 65532:65532 "$rootfs/data"
  version=$("$rootfs/nats-server" --version | sed 's/.*v//')
  import "$rootfs" nats "$version" "$NATS_IMAGE" \
    'USER 65532:65532' 'EXPOSE 4222 6222 8222' 'ENTRYPOINT ["/nats-server"]' \
    'CMD ["--config", "/nats-server.conf"]'
  verify_ctr=$(docker run -d "$NATS_IMAGE" --config /nats-server.conf -js --store_dir /data)
  verify "nats-server -js answers" sh -c "docker logs $verify_ctr 2>&1 | grep -q 'Server is ready' && docker logs $verify_ctr 2>&1 | grep -q 'Starting JetStream'"
  echo "   built in $((SECONDS - t0)) s"
}

build_redis() {
  local t0=$SECONDS rootfs=$work/redis version
  echo "== image $REDIS_IMAGE (redis of the host's Debian packages)"
  wanted "$REDIS_IMAGE" || return 0
  base_rootfs "$rootfs" 999 redis
  copy_elf "$rootfs" /usr/bin/redis-server /usr/bin/redis-cli
  mkdir -p "$rootfs/data" "$rootfs/usr/local/bin"
  chown 999:999 "$rootfs/data"
  install -m 0755 "$root/deploy/redis/entrypoint.sh" "$rootfs/usr/local/bin/docker-entrypoint.sh"
  version=$(redis-server --version | sed -E 's/.* v=([^ ]+).*/\1/')
  import "$rootfs" redis "$version" "$REDIS_IMAGE" \
    'USER 999:999' 'WORKDIR /data' 'ENV PATH=/usr/local/bin:/usr/bin:/bin' 'EXPOSE 6379' \
    'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' 'CMD ["redis-server"]'
  verify_ctr=$(docker run -d "$REDIS_IMAGE")
  verify "redis-server answers PING" sh -c "docker exec $verify_ctr redis-cli ping | grep -q PONG"
  echo "   built in $((SECONDS - t0)) s"
}

build_postgres() {
  local t0=$SECONDS rootfs=$work/postgres version f
  echo "== image $POSTGRES_IMAGE (PostgreSQL $PG_VERSION of the host's Debian packages)"
  wanted "$POSTGRES_IMAGE" || return 0
  base_rootfs "$rootfs" 999 postgres
  # The server package's files (but documentation), then every program and
  # loadable module with its libraries.
  dpkg -L "postgresql-$PG_VERSION" | grep -vE '^/usr/share/(doc|man|locale|lintian)|^/etc|^/usr/share/postgresql/[0-9]+/man' |
    while read -r f; do if [ -f "$f" ]; then put "$rootfs" "$f"; fi; done
  # Not the LLVM JIT (jit=off without it): libLLVM alone is over 100 MB.
  rm -rf "$rootfs/usr/lib/postgresql/$PG_VERSION/lib/llvmjit"* "$rootfs/usr/lib/postgresql/$PG_VERSION/lib/bitcode"
  for f in "$PG_BIN"/* "/usr/lib/postgresql/$PG_VERSION/lib"/*.so; do
    case "$f" in */llvmjit*) continue ;; esac
    if [ -f "$f" ]; then copy_elf "$rootfs" "$f"; fi
  done
  copy_elf "$rootfs" "$PG_BIN/pg_isready" /bin/rm /bin/mkdir /bin/chmod
  # Time zones (the server is built against the system's tzdata) and the C.UTF-8 locale.
  put "$rootfs" /usr/share/zoneinfo
  put "$rootfs" /usr/lib/locale/C.utf8
  mkdir -p "$rootfs/var/lib/postgresql/data" "$rootfs/var/run/postgresql" "$rootfs/usr/local/bin"
  chown -R 999:999 "$rootfs/var/lib/postgresql" "$rootfs/var/run/postgresql"
  chmod 0700 "$rootfs/var/lib/postgresql/data"
  install -m 0755 "$root/deploy/postgres/entrypoint.sh" "$rootfs/usr/local/bin/docker-entrypoint.sh"
  version=$("$PG_BIN/postgres" --version | awk '{print $3}')
  import "$rootfs" postgres "$version" "$POSTGRES_IMAGE" \
    'USER 999:999' "ENV PATH=/usr/local/bin:$PG_BIN:/usr/bin:/bin" 'ENV PGDATA=/var/lib/postgresql/data' \
    'ENV LANG=C.UTF-8' 'ENV TZ=Etc/UTC' 'VOLUME /var/lib/postgresql/data' 'EXPOSE 5432' \
    'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' 'CMD ["postgres"]'
  verify_ctr=$(docker run -d -e POSTGRES_PASSWORD=verify -e POSTGRES_DB=verify "$POSTGRES_IMAGE")
  verify "postgres initdb + start answers (server runs as uid 999)" sh -c \
    "docker exec $verify_ctr pg_isready -q -d verify -U postgres && docker top $verify_ctr | grep -qE '^999 .*postgres -c listen_addresses'"
  echo "   built in $((SECONDS - t0)) s"
}

build_nats
build_redis
build_postgres
