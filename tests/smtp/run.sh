#!/usr/bin/env bash
# The `smtp` mail transport against a real SMTP server: a local aiosmtpd sink (pinned in
# requirements.txt, installed into tests/smtp/.venv) that stores every message in a Maildir.
#
#   tests/smtp/run.sh <path-to-api-binary>      e.g. tests/smtp/run.sh target/debug/api
#
# Starts the sink on a free loopback port and the API binary on a temporary SQLite database with
# MAIL_TRANSPORT=smtp SMTP_TLS=none pointed at it, then runs check.py (sign-up, password-reset
# request, the message's To/From/Subject and link, the link's 302 with ?token=, the reset itself).
# Stops both processes by PID. Exit status 0 only if everything passed. SMTP_KEEP_TMP=1 keeps the
# temporary directory (database, Maildir, logs).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/stage.sh
. "$here/../../scripts/lib/stage.sh"
api="$(api_binary_arg "smtp" "$@")"
venv="$here/.venv"
# shellcheck source=scripts/lib/venv.sh
. "$here/../../scripts/lib/venv.sh"
ensure_venv "smtp" "$venv" "$here/requirements.txt"

work="$(mktemp -d "${TMPDIR:-/tmp}/smtp-check.XXXXXX")"
smtp_pid=""
api_pid=""

cleanup() {
	stop_process smtp "$api_pid" api || true
	stop_process smtp "$smtp_pid" aiosmtpd || true
	if [ "${SMTP_KEEP_TMP:-}" = 1 ]; then
		echo "smtp: kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_logs() {
	echo "--- api log ---" >&2
	cat "$work/api.log" >&2 || true
	echo "--- aiosmtpd log ---" >&2
	cat "$work/smtp.log" >&2 || true
}

# A free loopback port for the sink (bound and released; aiosmtpd binds it right after).
port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
# (aiosmtpd creates the Maildir with its cur/new/tmp folders; it must not exist yet.)
"$venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$work/maildir" \
	>"$work/smtp.log" 2>&1 &
smtp_pid=$!

# Wait (at most 15 s) until the sink accepts connections.
if ! "$venv/bin/python" - "$port" "$smtp_pid" <<'PY'; then
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("aiosmtpd exited")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit("aiosmtpd is not accepting connections after 15 s")
PY
	show_logs
	exit 1
fi

# The API: a clean environment (no inherited DATABASE_URL, MAIL_*, ...), run in the temporary
# directory so no .env file is picked up.
secret="$("$venv/bin/python" -c 'import secrets; print(secrets.token_hex(24))')"
(
	cd "$work"
	exec env -i PATH="$PATH" HOME="$work" \
		BIND=127.0.0.1 PORT=0 AUTH_SECRET="$secret" LOG_FORMAT=json RUST_LOG=info \
		DATABASE_URL="sqlite://$work/smtp.db?mode=rwc" DATA_DIR="$work" \
		TRUSTED_ORIGINS=http://localhost:3000 RATE_LIMIT_ENABLED=false \
		MAIL_TRANSPORT=smtp SMTP_HOST=127.0.0.1 SMTP_PORT="$port" SMTP_TLS=none \
		MAIL_FROM=no-reply@example.com \
		"$api"
) >"$work/api.log" 2>&1 &
api_pid=$!

# Wait (at most 30 s) for the `listening on http://…` line.
base=""
for _ in $(seq 300); do
	base="$(grep -oE 'listening on https?://[^"[:space:],}\\]+' "$work/api.log" | head -n1 | sed 's/^listening on //')" || true
	[ -n "$base" ] && break
	if ! kill -0 "$api_pid" 2>/dev/null; then
		echo "smtp: the API exited before listening" >&2
		show_logs
		exit 1
	fi
	sleep 0.1
done
if [ -z "$base" ]; then
	echo "smtp: no 'listening on' line from the API within 30 s" >&2
	show_logs
	exit 1
fi
echo "smtp: API at $base, aiosmtpd on 127.0.0.1:$port"

if ! "$venv/bin/python" "$here/check.py" "$base" "$work/maildir"; then
	show_logs
	exit 1
fi

api_status=0
stop_process smtp "$api_pid" api || api_status=$?
api_pid=""
if [ "$api_status" -ne 0 ]; then
	echo "smtp: the API exited with status $api_status on SIGTERM (expected 0)" >&2
	show_logs
	exit 1
fi
echo "smtp: passed"
