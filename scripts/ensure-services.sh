#!/usr/bin/env bash
# Starts (or installs) what the end-to-end suite talks to: Redis, PostgreSQL,
# Debian's Chromium and python3. Safe to run again: it only acts on what is missing.
set -euo pipefail

say() { printf 'ensure-services: %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# Redis on 127.0.0.1:6379
if ! command -v redis-server >/dev/null; then say "installing redis"; apt_install redis-server; fi
# redis-cli joins the Redis Cluster the cluster tests start (Debian's redis-server depends on it).
if ! command -v redis-cli >/dev/null; then say "installing redis-tools"; apt_install redis-tools; fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  say "starting redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null

# PostgreSQL on 127.0.0.1:5432 with a `test` database
if ! command -v pg_ctlcluster >/dev/null; then say "installing postgresql"; apt_install postgresql; fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  say "starting postgresql"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  for _ in $(seq 1 100); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.1; done
fi
pg_isready -h 127.0.0.1 -p 5432 -q
if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
  say "creating database test"
  psql -h 127.0.0.1 -U postgres -c 'create database test' >/dev/null
fi

# Chromium from Debian's packages (never a downloaded browser build)
if [ ! -x /usr/bin/chromium ]; then say "installing chromium"; apt_install chromium; fi

# python3 runs the webhooks guide's Python verification sample
if ! command -v python3 >/dev/null; then say "installing python3"; apt_install python3; fi

say "redis, postgresql, chromium and python3 are ready"
