#!/bin/sh
# Prints a deploy/.env for compose.yaml with a fresh random secret for every
# variable .env.example lists (hex: URL-safe, no spaces):
#   deploy/gen-env.sh > deploy/.env && chmod 600 deploy/.env
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
while IFS= read -r line; do
  case $line in
    *_PASSWORD=*) echo "${line%%=*}=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" ;;
    *) echo "$line" ;;
  esac
done <"$dir/.env.example"
