#!/usr/bin/env bash
# install-deps.sh - install what sensorpipe needs on Debian/Ubuntu, only what is missing (idempotent).
# Runs apt-get as root, or through sudo; then `npm ci` (or install) for the web assets and test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    build-essential pkg-config clang            # compilers (clang for the fuzz targets)
    clang-format                                # make format / format-check (.ci/run)
    libmosquitto-dev libpq-dev libwebsockets-dev libcjson-dev libcmocka-dev
    libuv1-dev libwebsockets-evlib-uv           # serve's default event loop: libuv (epoll) under libwebsockets
    libssl-dev openssl                          # the ingest's MQTT over TLS; scripts/tls.sh (local CA, broker certificate)
    mosquitto mosquitto-clients                 # broker and mosquitto_pub/sub
    postgresql postgresql-contrib               # server (private clusters under var/ and for tests)
    nodejs npm                                  # web assets, integration and browser tests
    chromium                                    # headless browser for the dashboard test
    libnss3-tools                               # certutil: the dashboard test trusts the test CA in its own NSS db
    valgrind                                    # optional leak checks
    gnuplot-nox                                 # make bench: the results plot
    gcc-arm-none-eabi libnewlib-arm-none-eabi   # make firmware: firmware/core cross-compiled for the Pico W (Cortex-M0+)
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    # a command that already exists counts (e.g. node from another source)
    case "$p" in
        nodejs) command -v node >/dev/null && continue ;;
        npm) command -v npm >/dev/null && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    SUDO=
    [ "$(id -u)" = 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts a system mosquitto/postgresql on install; sensorpipe runs its own private ones
fi

if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ]; then
    echo "install-deps: npm packages"
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund --loglevel=error
    else
        npm install --no-audit --no-fund --loglevel=error
    fi
fi
