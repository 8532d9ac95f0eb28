#!/usr/bin/env bash
# Installs what the integration tests need and a fresh machine may lack:
# redis-server and redis-cli (Redis Cluster tests), a PostgreSQL server
# (event store tests) and Debian's chromium (the saga console's browser
# test; a distribution package, never a downloaded browser build).
# Idempotent: does nothing when everything is present.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
browser=()
command -v chromium >/dev/null 2>&1 || browser=(chromium)
[ ${#need[@]} -eq 0 ] && [ ${#browser[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq || echo "apt-get update failed; installing from the package lists at hand"
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Without a browser only the console's browser test cannot run: it then
# skips, loudly (and fails under CATGA_E2E=1), so a failed install is not
# fatal here.
if [ ${#browser[@]} -gt 0 ]; then
  echo "installing: ${browser[*]}"
  if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${browser[@]}" >/dev/null; then
    echo "!!! could not install Debian's chromium: the saga console's browser test (e2e/console) will be SKIPPED (it fails under CATGA_E2E=1)"
  fi
fi
# The Debian package starts a system-wide redis on 6379; the tests start
# their own servers on free ports and need none.
if [[ " ${need[*]} " == *" redis-server "* ]] && command -v systemctl >/dev/null 2>&1; then
  $sudo systemctl disable --now redis-server >/dev/null 2>&1 || true
fi
