#!/usr/bin/env bash
# firmware.sh - `make firmware`: build the Pico W firmware's portable core for the device.
#
# 1. Cross-compiles firmware/core/*.c with Debian's arm-none-eabi-gcc for the RP2040
#    (-mcpu=cortex-m0plus -mthumb -Os) into build/firmware/libfwcore.a, prints its size,
#    and checks that the objects need nothing but a few C library and integer helper
#    functions: no SDK, no OS, no floating point.
# 2. When PICO_SDK_PATH points at a pico-sdk (with lib/cyw43-driver and lib/lwip), also
#    configures and builds the whole port, firmware/pico, for PICO_BOARD=pico_w into
#    build/firmware/pico and prints the .elf size. The port needs WIFI_SSID, WIFI_PASSWORD,
#    MQTT_BROKER, DEVICE_ID and MQTT_PASSWORD or MQTT_PASSWORD_FILE (environment); without them
#    this step is skipped with a note. TLS is on unless SENSORPIPE_TLS=OFF: the CA is
#    SENSORPIPE_CA_FILE, default var/tls/ca.crt. MQTT_PASSWORD reaches CMake through the
#    environment only, so it is not written to CMakeCache.txt.
#    Without picotool on PATH it is configured with PICO_NO_PICOTOOL=1: .elf/.bin/.hex, and the
#    .uf2 made from the .bin by firmware/pico/bin2uf2.py.
#
# Installs gcc-arm-none-eabi and libnewlib-arm-none-eabi when missing (as scripts/install-deps.sh), and for
# the port also libstdc++-arm-none-eabi-newlib and cmake.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=build/firmware
CFLAGS=(-std=c11 -mcpu=cortex-m0plus -mthumb -Os -ffunction-sections -fdata-sections
        -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers)

# install the Debian packages given that are missing
install_missing() {
    local need=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
    done
    [ ${#need[@]} -gt 0 ] || return 0
    echo "firmware: installing ${need[*]}"
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
command -v arm-none-eabi-gcc >/dev/null || install_missing gcc-arm-none-eabi
install_missing libnewlib-arm-none-eabi

# 1. the core, alone: no include path at all, so an SDK or src/ header cannot sneak in
mkdir -p "$OUT/core"
objs=()
for src in firmware/core/*.c; do
    obj="$OUT/core/$(basename "${src%.c}").o"
    arm-none-eabi-gcc "${CFLAGS[@]}" -c -o "$obj" "$src"
    objs+=("$obj")
done
rm -f "$OUT/libfwcore.a"
arm-none-eabi-ar rcs "$OUT/libfwcore.a" "${objs[@]}"

# what the core needs from outside: only the C library's mem*/str* and the compiler's integer helpers
defined=$(arm-none-eabi-nm --defined-only "${objs[@]}" | awk 'NF == 3 { print $3 }' | sort -u)
undefined=$(arm-none-eabi-nm -u "${objs[@]}" | awk 'NF == 2 { print $2 }' | sort -u | comm -23 - <(echo "$defined"))
bad=$(echo "$undefined" | grep -Ev '^$|^(memcpy|memset|memcmp|memmove|strlen)$|^__aeabi_(u?idiv(mod)?|u?ldivmod|lmul|llsl|llsr|lasr|lcmp|ulcmp)$|^__(u?(div|mod)di3|ashldi3|lshrdi3|ashrdi3|muldi3|gnu_thumb1_case_[a-z0-9]+)$' || true)
if [ -n "$bad" ]; then
    echo "firmware: firmware/core needs symbols a bare Cortex-M0+ core must not need (float or OS):" >&2
    echo "$bad" | sed 's/^/  /' >&2
    exit 1
fi

echo "firmware: firmware/core for cortex-m0plus (-Os, thumb), $OUT/libfwcore.a:"
arm-none-eabi-size -t "${objs[@]}" | sed 's/^/  /'

# 2. the whole port, where a pico-sdk is at hand
if [ -z "${PICO_SDK_PATH:-}" ]; then
    echo "firmware: PICO_SDK_PATH not set: the Pico W port (firmware/pico) is not built; see docs/FIRMWARE.md"
    exit 0
fi
if [ -z "${WIFI_SSID:-}" ] || [ -z "${MQTT_BROKER:-}" ] || [ -z "${WIFI_PASSWORD+set}" ] || [ -z "${DEVICE_ID:-}" ] ||
    { [ -z "${MQTT_PASSWORD:-}" ] && [ -z "${MQTT_PASSWORD_FILE:-}" ]; }; then
    echo "firmware: PICO_SDK_PATH is set but WIFI_SSID, WIFI_PASSWORD, MQTT_BROKER, DEVICE_ID and MQTT_PASSWORD" \
         "(or MQTT_PASSWORD_FILE) are not all: port not built (export them, WIFI_PASSWORD= for an open network)"
    exit 0
fi
command -v cmake >/dev/null || install_missing cmake
install_missing libstdc++-arm-none-eabi-newlib # the SDK links the port with g++

PORT="$OUT/pico"
args=(-S firmware/pico -B "$PORT" -DPICO_SDK_PATH="$PICO_SDK_PATH" -DPICO_BOARD="${PICO_BOARD:-pico_w}"
      -DWIFI_SSID="$WIFI_SSID" -DWIFI_PASSWORD="$WIFI_PASSWORD" -DMQTT_BROKER="$MQTT_BROKER")
# MQTT_PASSWORD is not passed with -D: CMake reads it from the environment and does not cache it
for v in MQTT_PORT DEVICE_ID MQTT_QOS PUBLISH_INTERVAL_MS STUCK_MINUTES DHT22_GPIO WIFI_POWERSAVE MQTT_PASSWORD_FILE \
    SENSORPIPE_TLS SENSORPIPE_CA_FILE MQTT_TLS_NAME; do
    [ -n "${!v+set}" ] && args+=("-D$v=${!v}")
done
{ command -v picotool >/dev/null || [ -n "${picotool_DIR:-}" ]; } || args+=(-DPICO_NO_PICOTOOL=1)
echo "firmware: building firmware/pico against $PICO_SDK_PATH (PICO_BOARD=${PICO_BOARD:-pico_w})"
log="$PORT.log"
mkdir -p "$PORT"
if ! { cmake "${args[@]}" -DCMAKE_BUILD_TYPE=Release && cmake --build "$PORT" -j "$(nproc)"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "firmware: the port did not build; full log in $log" >&2
    exit 1
fi
elf="$PORT/sensorpipe_pico.elf"
echo "firmware: $elf"
arm-none-eabi-size "$elf" | sed 's/^/  /'
for f in "$PORT"/sensorpipe_pico.{uf2,bin,hex}; do [ -f "$f" ] && echo "  $f"; done; true
