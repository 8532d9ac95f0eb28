#!/bin/sh
# Entrypoint of the redis image `make images` builds, compatible with the
# official one: arguments starting with "-" are options of redis-server, and
# protected mode is off unless a configuration file is given (inside a
# container the port is reached through its network, not loopback).
set -e
case "$1" in -*) set -- redis-server "$@" ;; esac
if [ "$1" = redis-server ]; then
  case "$2" in
    "" | -*) shift; set -- redis-server --protected-mode no "$@" ;;
  esac
fi
exec "$@"
