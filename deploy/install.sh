#!/usr/bin/env bash
# Makes this machine able to run and test the help desk, doing only what is missing:
#   - RabbitMQ (Debian's rabbitmq-server) when its server script is absent;
#   - with --postgres, PostgreSQL (pg_ctl under /usr/lib/postgresql/*/bin) when absent;
#   - with --browser, Debian's Chromium (/usr/bin/chromium, for the web workspace's browser tests);
#   - .venv (python3 -m venv) when absent, and `pip install -r requirements-dev.txt` only when
#     the requirements files changed since the last successful install (hash stamp in .venv);
#   - this project itself, editable, when the venv has no `helpdesk` command yet (the CLI).
# Silent when there is nothing to do (well under 2 s); on failure prints the failing step's
# output and exits non-zero. Package installs need root (or sudo) and apt-get.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.requirements.sha256
REQUIREMENT_FILES=(requirements-dev.txt requirements.txt requirements.lock)

want_postgres=0
want_browser=0
for arg in "$@"; do
  case $arg in
    --postgres) want_postgres=1 ;;
    --browser) want_browser=1 ;;
    *) echo "usage: $0 [--postgres] [--browser]" >&2; exit 2 ;;
  esac
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT

fail() {
  echo "deploy/install.sh: $1 failed; its output follows:" >&2
  cat "$log" >&2
  exit 1
}

# Runs a command with its output kept in $log; shows the output only if it fails.
quietly() {
  local what=$1
  shift
  "$@" >"$log" 2>&1 || fail "$what"
}

exists() { compgen -G "$1" >/dev/null; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo -n "$@"
  else
    echo "deploy/install.sh: need root to run: $*" >&2
    return 1
  fi
}

apt_install() {
  command -v apt-get >/dev/null || {
    echo "deploy/install.sh: apt-get not found; install these by hand: $*" >&2
    exit 1
  }
  echo "deploy/install.sh: installing $* (apt-get)" >&2
  # Keep the packages' init scripts from starting system-wide servers (a system RabbitMQ on
  # 5672 would collide with `make run`): a policy-rc.d answering 101 forbids service starts.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    added_policy=1
  fi
  local rc=0
  {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
  } >"$log" 2>&1 </dev/null || rc=$?
  if [ "$added_policy" -eq 1 ]; then as_root rm -f "$policy"; fi
  [ "$rc" -eq 0 ] || fail "apt-get install $*"
}

packages=()
exists '/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server' || packages+=(rabbitmq-server)
if [ "$want_postgres" -eq 1 ]; then
  exists '/usr/lib/postgresql/*/bin/pg_ctl' || packages+=(postgresql)
fi
if [ "$want_browser" -eq 1 ]; then
  [ -x /usr/bin/chromium ] || packages+=(chromium)
fi
if [ ! -x "$VENV/bin/python" ] && ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  packages+=(python3-venv)
fi
if [ "${#packages[@]}" -gt 0 ]; then
  apt_install "${packages[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
  quietly "python version check" "$PYTHON" -c \
    'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed, got " + sys.version'
  quietly "$PYTHON -m venv $VENV" "$PYTHON" -m venv "$VENV"
  rm -f "$STAMP"
fi

present=()
for file in "${REQUIREMENT_FILES[@]}"; do
  if [ -f "$file" ]; then present+=("$file"); fi
done
wanted=$(cat "${present[@]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$wanted" ]; then
  quietly "pip install -r requirements-dev.txt" \
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$wanted" >"$STAMP"
fi

if [ ! -x "$VENV/bin/helpdesk" ]; then
  quietly "pip install -e . (the helpdesk command)" \
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
fi
