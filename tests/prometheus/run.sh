#!/usr/bin/env bash
# A real Prometheus scrapes the service (issue 18): Debian's prometheus package (pinned,
# scripts/install-prometheus) scrapes METRICS_BIND every second while check.py drives a short
# load (sign-ups, good and bad sign-ins, get-sessions, task requests); then PromQL queries over
# Prometheus's HTTP API must return exactly the sign-in outcomes and request counts the load
# produced, and `promtool check metrics` must pass on the service's exposition.
#
#   tests/prometheus/run.sh <path-to-api-binary>      e.g. tests/prometheus/run.sh target/debug/api
#
# Everything listens on 127.0.0.1; the API uses a temporary SQLite database and Prometheus a
# temporary storage directory. Both processes are stopped by PID. PROMETHEUS_KEEP_TMP=1 keeps the
# temporary directory (database, Prometheus data and config, logs).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/stage.sh
. "$here/../../scripts/lib/stage.sh"
api="$(api_binary_arg "prometheus" "$@")"
root="$(cd "$here/../.." && pwd)"

bash "$root/scripts/install-prometheus"

work="$(mktemp -d "${TMPDIR:-/tmp}/prometheus-check.XXXXXX")"
api_pid=""
prom_pid=""

cleanup() {
	stop_process prometheus "$prom_pid" prometheus || true
	stop_process prometheus "$api_pid" api || true
	if [ "${PROMETHEUS_KEEP_TMP:-}" = 1 ]; then
		echo "prometheus: kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_logs() {
	echo "--- api log (tail) ---" >&2
	tail -n 50 "$work/api.log" >&2 || true
	echo "--- prometheus log (tail) ---" >&2
	tail -n 50 "$work/prometheus.log" >&2 || true
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
metrics_port="$(free_port)"
prom_port="$(free_port)"

# The API: a clean environment, run in the temporary directory so no .env file is picked up.
# The rate limiter is off so that the load's sign-ins are all counted as what they are.
secret="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
(
	cd "$work"
	exec env -i PATH="$PATH" HOME="$work" \
		BIND=127.0.0.1 PORT=0 AUTH_SECRET="$secret" LOG_FORMAT=json RUST_LOG=info \
		DATABASE_URL="sqlite://$work/api.db?mode=rwc" DATA_DIR="$work" \
		TRUSTED_ORIGINS=http://localhost:3000 RATE_LIMIT_ENABLED=false \
		METRICS_BIND="127.0.0.1:$metrics_port" \
		"$api"
) >"$work/api.log" 2>&1 &
api_pid=$!

base=""
for _ in $(seq 300); do
	base="$(grep -oE 'listening on https?://[^"[:space:],}\\]+' "$work/api.log" | head -n1 | sed 's/^listening on //')" || true
	[ -n "$base" ] && break
	if ! kill -0 "$api_pid" 2>/dev/null; then
		echo "prometheus: the API exited before listening" >&2
		show_logs
		exit 1
	fi
	sleep 0.1
done
if [ -z "$base" ]; then
	echo "prometheus: no 'listening on' line from the API within 30 s" >&2
	show_logs
	exit 1
fi

# Prometheus: one job scraping the metrics address every second, temporary storage.
cat >"$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: api
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
YML
promtool check config "$work/prometheus.yml" >/dev/null
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
	--web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
prom_pid=$!
echo "prometheus: API at $base, metrics on 127.0.0.1:$metrics_port, Prometheus $(prometheus --version 2>&1 | head -n1 | awk '{print $3}') on 127.0.0.1:$prom_port"

if ! python3 "$here/check.py" "$base" "http://127.0.0.1:$metrics_port/metrics" "http://127.0.0.1:$prom_port" "$prom_pid"; then
	show_logs
	exit 1
fi

# The exposition itself, linted by Prometheus's own tool.
curl -fsS "http://127.0.0.1:$metrics_port/metrics" >"$work/exposition.txt"
if ! promtool check metrics <"$work/exposition.txt"; then
	echo "prometheus: promtool check metrics failed on the exposition" >&2
	exit 1
fi
echo "prometheus: promtool check metrics passed ($(grep -c '^# TYPE' "$work/exposition.txt") metric families)"
echo "prometheus: passed"
