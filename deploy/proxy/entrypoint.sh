#!/bin/sh
# The TLS reverse proxy's start (docker-compose.yml's `proxy`, the official nginx image; tests/
# test_proxy.py runs this same script before a real nginx): the certificate, then the command.
#
# nginx reads $ENVMON_TLS_DIR/fullchain.pem and privkey.pem (deploy/proxy/envmon.conf). Where both
# are there (the bureau's own certificate, mounted: README "TLS") they are used as they are. Where
# neither is, a self-signed certificate is made once, for ENVMON_TLS_HOSTNAME (and localhost and
# 127.0.0.1), valid ENVMON_TLS_DAYS days, and kept in the volume: browsers warn about it until the
# bureau's own replaces it. One file without the other is refused, naming the missing one.
set -eu
dir="${ENVMON_TLS_DIR:-/etc/nginx/certs}"
host="${ENVMON_TLS_HOSTNAME:-localhost}"
cert="$dir/fullchain.pem"
key="$dir/privkey.pem"

if [ -f "$cert" ] && [ -f "$key" ]; then
  echo "proxy: TLS certificate $cert" >&2
elif [ -f "$cert" ] || [ -f "$key" ]; then
  [ -f "$cert" ] || missing="$cert"
  [ -f "$key" ] || missing="$key"
  echo "proxy: $missing is missing beside the other half of the certificate; mount both or neither" >&2
  exit 1
else
  command -v openssl >/dev/null || { echo "proxy: openssl is needed to make a self-signed certificate" >&2; exit 1; }
  mkdir -p "$dir"
  san="DNS:$host,DNS:localhost,IP:127.0.0.1"
  case "$host" in *[!0-9.]*) ;; *) san="IP:$host,DNS:localhost,IP:127.0.0.1" ;; esac
  umask 077
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 -nodes -days "${ENVMON_TLS_DAYS:-825}" \
    -subj "/CN=$host/O=envmon self-signed" -addext "subjectAltName=$san" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
    -keyout "$key.new" -out "$cert.new" 2>/dev/null
  mv "$key.new" "$key"
  mv "$cert.new" "$cert"
  chmod 644 "$cert"
  echo "proxy: made a self-signed TLS certificate for $host in $cert (replace it with the bureau's own)" >&2
fi
exec "$@"
