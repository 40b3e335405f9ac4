#!/usr/bin/env bash
# Better Auth compatibility suite: drives a running instance of the server with
# the official better-auth 1.7.25 client.
#
#   compat/run.sh <path-to-api-binary>    e.g. compat/run.sh target/debug/api
#   compat/run.sh --reference             against real Better Auth (compat/dev/betterauth-server.mjs)
#
# SQLite always; PostgreSQL too when COMPAT_PG_URL is a server URL
# (e.g. postgres://postgres@127.0.0.1:5432): a fresh database is created and dropped.
# Installs node_modules with `npm ci` when missing or stale. Exit status 0 only
# if every phase passed. See compat/README.md.
set -euo pipefail

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	echo "usage: $0 <path-to-api-binary> | --reference" >&2
	exit 2
fi
target="$1"
if [ "$target" != "--reference" ]; then
	if [ ! -f "$target" ]; then
		echo "compat: no server binary at $target" >&2
		exit 2
	fi
	target="$(cd "$(dirname "$target")" && pwd)/$(basename "$target")"
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# better-sqlite3 is compiled from source when no prebuilt binary can be
# downloaded; with Debian's nodejs the headers are in /usr/include/node, so
# point node-gyp there instead of letting it download them.
if [ -z "${npm_config_nodedir:-}" ] && [ "$(readlink -f "$(command -v node)")" = /usr/bin/node ] \
	&& [ -f /usr/include/node/node_version.h ]; then
	export npm_config_nodedir=/usr
fi

# Reinstall when package-lock.json or the Node version (native module ABI) changed.
stamp_file=node_modules/.compat-install-stamp
stamp="$(sha256sum package-lock.json | cut -d' ' -f1) $(node --version)"
if [ ! -f "$stamp_file" ] || [ "$(cat "$stamp_file")" != "$stamp" ]; then
	echo "compat: installing node_modules (npm ci)"
	npm ci --no-audit --no-fund </dev/null
	echo "$stamp" >"$stamp_file"
fi

exec node lib/run.mjs "$target"
