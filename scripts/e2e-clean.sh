#!/usr/bin/env bash
# Removes what e2e runs left behind: every container (with its anonymous
# volumes) and network labelled org.catga.e2e (e2e/topology labels all it
# makes). A run removes its own with t.Cleanup; this sweeps after a run that
# was killed (SIGKILL, Ctrl-C, the go test -timeout panic), which runs no
# cleanup. `make e2e` calls it before and after the tests.
set -euo pipefail
label=org.catga.e2e
command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 || exit 0
containers=$(docker ps -aq --filter "label=$label")
if [ -n "$containers" ]; then
  echo "e2e-clean: removing $(wc -w <<<"$containers") containers left by an interrupted run"
  # shellcheck disable=SC2086 # one id per word
  docker rm -f -v $containers >/dev/null
fi
networks=$(docker network ls -q --filter "label=$label")
if [ -n "$networks" ]; then
  echo "e2e-clean: removing $(wc -w <<<"$networks") networks left by an interrupted run"
  # shellcheck disable=SC2086
  docker network rm $networks >/dev/null
fi
# The compose smoke test (e2e/compose) names its projects catgasmoke<hex>:
# what an interrupted run left, with its volumes.
for p in $(docker ps -a --format '{{.Label "com.docker.compose.project"}}' | grep '^catgasmoke[0-9a-f]*$' | sort -u); do
  echo "e2e-clean: removing compose project $p left by an interrupted smoke test"
  # shellcheck disable=SC2046 # one id per word
  docker rm -f -v $(docker ps -aq --filter "label=com.docker.compose.project=$p") >/dev/null
  docker network ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker network rm >/dev/null
  docker volume ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker volume rm >/dev/null
done
