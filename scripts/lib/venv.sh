# A Python venv holding exactly a hash-pinned requirements.txt: sourced by the test stages that
# run Python tools (tests/smtp, tests/second-backend); defines ensure_venv.
# shellcheck shell=bash

# ensure_venv <label> <venv-dir> <requirements.txt>: creates the venv when missing and
# (re)installs the requirements when the file or the Python version changed since the last
# install (a stamp file inside the venv). PYTHON chooses the interpreter (default python3).
ensure_venv() {
  local label="$1" venv="$2" requirements="$3"
  if [ ! -x "$venv/bin/python" ]; then
    echo "$label: creating $venv"
    "${PYTHON:-python3}" -m venv "$venv"
  fi
  local stamp_file="$venv/.requirements-stamp" stamp
  stamp="$(sha256sum "$requirements" | cut -d' ' -f1) $("$venv/bin/python" --version 2>&1)"
  if [ ! -f "$stamp_file" ] || [ "$(cat "$stamp_file")" != "$stamp" ]; then
    echo "$label: installing $(basename "$requirements") into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
      -r "$requirements" </dev/null
    echo "$stamp" >"$stamp_file"
  fi
}
