#!/bin/sh
# Kyso's container entrypoint. The image also installs it as /usr/local/bin/kyso (a symlink), so that
# `docker compose exec kyso kyso ca list` sees the same settings as the service.
#
# Before anything runs:
#   - when KYSO_DATABASE_URL is unset and KYSO_DB_HOST is set, KYSO_DATABASE_URL is built from
#     KYSO_DB_HOST, KYSO_DB_PORT (5432), KYSO_DB_NAME (kyso), KYSO_DB_USER (kyso) and the password in the
#     file KYSO_DB_PASSWORD_FILE (/run/secrets/db_password), URL-encoded; the password never appears in
#     the compose file, the image or `docker inspect`.
# Then, called as `kyso …`: the real kyso command. Called as the entrypoint:
#   (no arguments) or `serve [OPTIONS]`  `kyso init` (idempotent), then `exec kyso serve --host 0.0.0.0`
#   a kyso command (`ca list`, …)          `kyso` with those arguments
#   anything else (`sh`, …)                run as given
set -eu

KYSO_VENV=${KYSO_VENV:-/opt/kyso}

die() {
    printf 'kyso-entrypoint: %s\n' "$*" >&2
    exit 2
}

# The secret as PostgreSQL's own image reads it (`$(< file)`): trailing newlines dropped, nothing else.
build_database_url() {
    : "${KYSO_DB_PASSWORD_FILE:=/run/secrets/db_password}"
    [ -r "$KYSO_DB_PASSWORD_FILE" ] || die "cannot read KYSO_DB_PASSWORD_FILE=$KYSO_DB_PASSWORD_FILE" \
        "(is the db_password secret mounted, and readable by uid $(id -u)?)"
    export KYSO_DB_PASSWORD_FILE
    KYSO_DATABASE_URL=$("$KYSO_VENV/bin/python" -c '
import os, sys
from urllib.parse import quote

env = os.environ
with open(env["KYSO_DB_PASSWORD_FILE"], encoding="utf-8") as handle:
    password = handle.read().rstrip("\n")
if not password:
    sys.exit("the database password file is empty")
host = env["KYSO_DB_HOST"]
if ":" in host and not host.startswith("["):
    host = f"[{host}]"  # an IPv6 literal
port = env.get("KYSO_DB_PORT") or "5432"
if not port.isdigit():
    sys.exit(f"KYSO_DB_PORT must be a number, got {port!r}")
user = quote(env.get("KYSO_DB_USER") or "kyso", safe="")
name = quote(env.get("KYSO_DB_NAME") or "kyso", safe="")
secret = quote(password, safe="")
print(f"postgresql://{user}:{secret}@{host}:{port}/{name}")
') || die "cannot build KYSO_DATABASE_URL from KYSO_DB_* (see the message above)"
    export KYSO_DATABASE_URL
}

if [ -z "${KYSO_DATABASE_URL:-}" ] && [ -n "${KYSO_DB_HOST:-}" ]; then
    build_database_url
fi

# Called as `kyso` (the symlink): behave exactly like the kyso command, with the settings above.
if [ "${0##*/}" = kyso ]; then
    exec "$KYSO_VENV/bin/kyso" "$@"
fi

[ "$#" -gt 0 ] || set -- serve

if [ "$1" = serve ]; then
    shift
    if [ "${KYSO_ENV:-development}" = production ] && [ -z "${KYSO_BASE_URL:-}" ]; then
        die "KYSO_BASE_URL is not set. In production it must be the public URL of the service" \
            "(https://kyso.example.gov.vn): the first \`kyso init\` writes it into the CA certificates" \
            "for good, and every certificate issued after carries it."
    fi
    "$KYSO_VENV/bin/kyso" init
    exec "$KYSO_VENV/bin/kyso" serve --host "${KYSO_HOST:-0.0.0.0}" "$@"
fi

# `docker compose run --rm kyso ca list` is `kyso ca list`; `sh`, `python`, … run as given.
case $1 in
    -* | init | ca | user | sign | verify | invite | venue | audit)
        exec "$KYSO_VENV/bin/kyso" "$@" ;;
esac
if ! command -v "$1" >/dev/null 2>&1; then
    exec "$KYSO_VENV/bin/kyso" "$@"
fi
exec "$@"
