#!/usr/bin/env bash
# A real second backend verifying this service's JWTs with nothing but its JWKS URL: a small
# FastAPI app (app.py; FastAPI, uvicorn and PyJWT pinned with hashes in requirements.txt,
# installed into tests/second-backend/.venv) driven by check.py against four instances of the
# API binary on temporary SQLite databases.
#
#   tests/second-backend/run.sh <path-to-api-binary>      e.g. tests/second-backend/run.sh target/debug/api
#
# Exit status 0 only if everything passed. SECOND_BACKEND_KEEP_TMP=1 keeps the temporary
# directory (databases, server logs).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/stage.sh
. "$here/../../scripts/lib/stage.sh"
api="$(api_binary_arg "second backend" "$@")"
venv="$here/.venv"
# shellcheck source=scripts/lib/venv.sh
. "$here/../../scripts/lib/venv.sh"
ensure_venv "second backend" "$venv" "$here/requirements.txt"

work="$(mktemp -d "${TMPDIR:-/tmp}/second-backend.XXXXXX")"
cleanup() {
	if [ "${SECOND_BACKEND_KEEP_TMP:-}" = 1 ]; then
		echo "second backend: kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

if ! "$venv/bin/python" "$here/check.py" "$api" "$work"; then
	for log in "$work"/*.log; do
		echo "--- $(basename "$log") ---" >&2
		tail -n 30 "$log" >&2 || true
	done
	exit 1
fi
