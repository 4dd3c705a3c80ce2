#!/usr/bin/env bash
# Installs the system packages the tests need and starts the local services they talk to, when not running.
# Run as root (the development and CI machines). Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the test suite needs: one list per feature in scripts/packages/*.txt (one package per line).
PACKAGES=()
for list in scripts/packages/*.txt; do
  [ -f "$list" ] || continue
  while read -r package _; do
    case "$package" in ""|"#"*) continue ;; esac
    PACKAGES+=("$package")
  done <"$list"
done

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done
  echo "setup: $2 did not come up on 127.0.0.1:$1" >&2
  return 1
}

if ! port_open 4222 && command -v nats-server >/dev/null; then
  echo "setup: starting nats-server on 127.0.0.1:4222"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_port 4222 nats-server
fi
if ! port_open 6379 && command -v redis-server >/dev/null; then
  echo "setup: starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
  wait_port 6379 redis-server
fi
if ! port_open 1883 && command -v mosquitto >/dev/null; then
  # Debian's configuration: with no listener configured, Mosquitto 2 listens on localhost:1883 for anonymous clients
  echo "setup: starting mosquitto on 127.0.0.1:1883"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
  wait_port 1883 mosquitto
fi
if ! port_open 5672 && command -v rabbitmq-server >/dev/null; then
  echo "setup: starting rabbitmq-server on 127.0.0.1:5672"
  rabbitmq-server -detached
  wait_port 5672 rabbitmq-server
fi

# Test fixtures built from source: one idempotent script per feature in scripts/fixtures/*.sh.
for fixture in scripts/fixtures/*.sh; do
  [ -f "$fixture" ] || continue
  bash "$fixture"
done
