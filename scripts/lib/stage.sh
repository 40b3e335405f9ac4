# What the shell test stages (tests/smtp, tests/second-backend, tests/prometheus) share: sourced;
# defines api_binary_arg and stop_process.
# shellcheck shell=bash

# api_binary_arg <label> <args...>: the one argument, an executable API binary, as an absolute
# path on stdout; otherwise a usage or error line on stderr and exit status 2.
api_binary_arg() {
  local label="$1"
  shift
  if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    echo "usage: $0 <path-to-api-binary>" >&2
    return 2
  fi
  if [ ! -f "$1" ] || [ ! -x "$1" ]; then
    echo "$label: no executable API binary at $1" >&2
    return 2
  fi
  echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
}

# stop_process <label> <pid> <name>: SIGTERM, then SIGKILL after 10 s; returns the exit status
# (0 when no pid is given).
stop_process() {
  local label="$1" pid="$2" name="$3" status=0
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || status=$?; return "$status"; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$label: $name (pid $pid) ignored SIGTERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || status=$?
  return "$status"
}
