#!/usr/bin/env bash
# tls.sh - a local certificate authority and the MQTT broker's server certificate, made with the openssl CLI.
#
#   scripts/tls.sh [--names-only] [--renew] [--new-ca] <dir> [name-or-address ...]
#
# Keeps in <dir> (`make run` uses var/tls/; the directory is made mode 0700):
#   ca.crt      the local CA's certificate: what clients (ingest, sim, firmware) trust (--mqtt-cafile)
#   ca.key      its private key (mode 0600): only this script reads it, to sign server certificates
#   server.crt  the broker's certificate, signed by the CA (the chain is the CA alone)
#   server.key  its private key (mode 0600): the broker reads it (scripts/mosquitto.sh)
#   server.names  the subject alternative names server.crt was made for (to notice a change)
#
# The server certificate names (subjectAltName) localhost, 127.0.0.1, ::1, this host's name
# (hostname, and hostname -f when it differs) and every name or address given after <dir>
# (an IPv4/IPv6 address becomes an IP entry, anything else a DNS entry). --names-only: only
# the names given, none of the defaults.
#
# Idempotent: an existing CA is kept (10 years, RSA 3072); the server certificate (RSA 2048,
# serverAuth, 397 days) is made again only when it is missing, when the names change, when it
# expires within 30 days, when the CA no longer verifies it, or with --renew. --new-ca retires
# the CA (ca.crt and ca.key are kept as ca-retired-<time>.{crt,key}), makes a new one and reissues
# the server certificate: clients then need the new ca.crt (docs/SECURITY.md, "TLS", says how to
# rotate without a gap). Prints what it did, one line, on stderr. Restart (or HUP) the broker to
# load a new server certificate.
set -euo pipefail

names_only=0 renew=0 new_ca=0
while [ $# -gt 0 ]; do
    case "$1" in
    --names-only) names_only=1 ;;
    --renew) renew=1 ;;
    --new-ca) new_ca=1 ;;
    --) shift; break ;;
    -*) echo "tls.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
    shift
done
dir=${1:?usage: tls.sh [--names-only] [--renew] [--new-ca] <dir> [name-or-address ...]}
shift
command -v openssl >/dev/null || { echo "tls.sh: openssl is missing (scripts/install-deps.sh)" >&2; exit 1; }

CA_DAYS=3650
SERVER_DAYS=397
RENEW_BEFORE_S=$((30 * 86400))

umask 077
mkdir -p "$dir"
chmod 700 "$dir"
say() { echo "tls.sh: $*" >&2; }

# ---- the names: defaults, then the arguments; sorted and without repeats ----
is_ip() { [[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ || ( $1 == *:* && $1 =~ ^[0-9A-Fa-f:.]+$ ) ]]; }
names=()
if [ $names_only = 0 ]; then
    names+=(localhost 127.0.0.1 ::1)
    h=$(hostname 2>/dev/null || true)
    [ -n "$h" ] && names+=("$h")
    hf=$(hostname -f 2>/dev/null || true)
    [ -n "$hf" ] && [ "$hf" != "$h" ] && names+=("$hf")
fi
names+=("$@")
[ ${#names[@]} -gt 0 ] || { say "no name for the server certificate (--names-only needs at least one)"; exit 2; }
san=$(for n in "${names[@]}"; do
    if is_ip "$n"; then echo "IP:$n"; else echo "DNS:$n"; fi
done | sort -u | paste -sd, -)

# ---- the CA ----
if [ $new_ca = 1 ] && [ -f "$dir/ca.crt" ]; then
    stamp=$(date +%Y%m%d%H%M%S)
    mv "$dir/ca.crt" "$dir/ca-retired-$stamp.crt"
    mv "$dir/ca.key" "$dir/ca-retired-$stamp.key"
    say "retired the CA as ca-retired-$stamp.crt"
fi
if [ ! -f "$dir/ca.crt" ] || [ ! -f "$dir/ca.key" ]; then
    [ -f "$dir/ca.key" ] && [ ! -f "$dir/ca.crt" ] && { say "$dir/ca.key without ca.crt: remove it or restore ca.crt"; exit 1; }
    openssl req -x509 -new -newkey rsa:3072 -nodes -sha256 -days "$CA_DAYS" \
        -keyout "$dir/ca.key.new" -out "$dir/ca.crt.new" \
        -subj "/O=sensorpipe/CN=sensorpipe local CA ($(hostname 2>/dev/null || echo host) $(date +%Y-%m-%d))" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" 2>/dev/null
    chmod 600 "$dir/ca.key.new"
    chmod 644 "$dir/ca.crt.new"
    mv "$dir/ca.key.new" "$dir/ca.key"
    mv "$dir/ca.crt.new" "$dir/ca.crt"
    say "made a new CA: $dir/ca.crt"
fi
chmod 600 "$dir/ca.key"

# ---- the server certificate ----
why=
if [ ! -f "$dir/server.crt" ] || [ ! -f "$dir/server.key" ]; then
    why="none yet"
elif [ $renew = 1 ]; then
    why="--renew"
elif [ "$(cat "$dir/server.names" 2>/dev/null)" != "$san" ]; then
    why="names changed"
elif ! openssl x509 -in "$dir/server.crt" -noout -checkend "$RENEW_BEFORE_S" >/dev/null 2>&1; then
    why="expires within 30 days"
elif ! openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt" >/dev/null 2>&1; then
    why="not signed by the current CA"
fi
if [ -z "$why" ]; then
    say "server certificate kept ($san)"
    exit 0
fi

tmp=$(mktemp -d "$dir/.issue.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
cn=${names[0]}
openssl req -new -newkey rsa:2048 -nodes -sha256 -keyout "$tmp/server.key" -out "$tmp/server.csr" \
    -subj "/O=sensorpipe/CN=$cn" 2>/dev/null
openssl x509 -req -in "$tmp/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -CAserial "$tmp/ca.srl" -sha256 -days "$SERVER_DAYS" -extfile "$tmp/ext.cnf" -out "$tmp/server.crt" 2>/dev/null
openssl verify -CAfile "$dir/ca.crt" "$tmp/server.crt" >/dev/null
chmod 600 "$tmp/server.key"
chmod 644 "$tmp/server.crt"
mv "$tmp/server.key" "$dir/server.key"
mv "$tmp/server.crt" "$dir/server.crt"
printf '%s\n' "$san" >"$dir/server.names"
say "issued the server certificate ($why): $san"
