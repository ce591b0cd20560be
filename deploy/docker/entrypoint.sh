#!/bin/sh
# Entry point of the soc container (scheduler, collector, Kibana setup).
# Refuses to start, loudly and once, when the directories soc writes are not writable by
# this (non-root) user: the outbox, reports and local state would otherwise fail at the
# first alert and be retried forever. Then runs the command given.
set -eu

uid=$(id -u)
for dir in "${SOC_OUT_DIR:-/var/lib/soc/out}" "${SOC_DATA_DIR:-/var/lib/soc/data}"; do
  probe=""
  if mkdir -p "$dir" 2>/dev/null; then
    probe=$(mktemp "$dir/.soc-write-test.XXXXXX" 2>/dev/null) || probe=""
  fi
  if [ -z "$probe" ]; then
    echo "soc: cannot write to $dir as uid $uid; mount a volume there that uid $uid can write" \
         "(docker-compose.yml does: soc-out, soc-data), or fix its owner: chown -R $uid $dir" >&2
    exit 73  # EX_CANTCREAT: the container stops instead of retrying
  fi
  rm -f "$probe"
done
if [ -n "${SOC_CONFIG:-}" ] && [ ! -f "$SOC_CONFIG" ]; then
  echo "soc: SOC_CONFIG=$SOC_CONFIG is not a file; mount your soc.toml there (read-only)" >&2
  exit 78  # EX_CONFIG
fi
exec "$@"
