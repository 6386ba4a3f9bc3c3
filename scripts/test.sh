#!/usr/bin/env bash
# Installs what is needed, then builds, type-checks, lints and runs the whole
# test suite. Every step runs even when an earlier one fails, so one run shows all
# problems; the exit status is non-zero when any step failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

bash scripts/setup.sh --tests --no-build || { echo "[test] set-up failed" >&2; exit 1; }

failed=()
step() {
  local name=$1; shift
  printf '\n==> %s\n' "$name"
  local t0=$SECONDS
  if "$@"; then
    printf '==> %s: ok (%ds)\n' "$name" $((SECONDS - t0))
  else
    printf '==> %s: FAILED (exit %d, %ds)\n' "$name" $? $((SECONDS - t0))
    failed+=("$name")
  fi
}

step build npm run --silent build
step typecheck npm run --silent typecheck
step lint npm run --silent lint
step layers npm run --silent layers
step test npm test

echo
if ((${#failed[@]})); then
  echo "[test] FAILED: ${failed[*]}"
  exit 1
fi
echo "[test] all passed"
