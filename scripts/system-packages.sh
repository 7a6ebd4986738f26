#!/usr/bin/env bash
# The Debian packages the tests use as real components, installed when missing (each test starts its own
# server on loopback and stops it by PID; none is left running as a service):
#   redis-server (shared state), nginx and haproxy (export, conformance, real logs for analyze),
#   prometheus (promtool test rules), chromium (dashboard and report screenshots).
# Without root or sudo it says what is missing and goes on: the tests that need a package then fail naming it.
set -euo pipefail
need=()
for pair in redis-server:redis-server nginx:nginx haproxy:haproxy promtool:prometheus chromium:chromium; do
    bin="${pair%%:*}"
    command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || need+=("${pair##*:}")
done
[ "${#need[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo_=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo_="sudo"
else
    echo "system-packages: missing ${need[*]} (no root or sudo to install them: apt-get install ${need[*]})" >&2
    exit 0
fi
echo "system-packages: installing ${need[*]}"
$sudo_ apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
