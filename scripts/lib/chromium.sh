# Debian's Chromium for the browser tests (scripts/contract, scripts/webapp): sourced, defines
# install_chromium, which installs /usr/bin/chromium with apt-get when it is missing.
# shellcheck shell=bash

install_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  printf '\n\033[1m-- %s\033[0m\n' "installing Debian's chromium (apt-get)"
  if [ "$(id -u)" != 0 ]; then
    echo "error: /usr/bin/chromium is missing and this is not root: apt-get install -y --no-install-recommends chromium" >&2
    return 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null </dev/null
}
