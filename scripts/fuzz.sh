#!/usr/bin/env bash
# Runs the fuzz properties of test/fuzz longer than the test suite does: every
# run count is multiplied by CAPSA_FUZZ_SCALE (default 20) and each property
# draws a fresh random seed. A failure prints its seed and path and the command
# that replays it. As root, like the suite (the tar and API properties need it).
#
#   scripts/fuzz.sh                       all fuzz tests, runs x20
#   CAPSA_FUZZ_SCALE=100 scripts/fuzz.sh test/fuzz/build.test.ts
#   CAPSA_FUZZ_SEED=<seed> [CAPSA_FUZZ_PATH=<path>] scripts/fuzz.sh <file>   replay
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

export CAPSA_FUZZ_SCALE=${CAPSA_FUZZ_SCALE:-20}
files=("$@")
((${#files[@]})) || files=(test/fuzz/*.test.ts)

# Some properties drive the real CLI (bin/capsa runs dist/).
npm run --silent build || exit 1

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=()
for f in "${files[@]}"; do
  printf '\n==> %s (runs x%s%s)\n' "$f" "$CAPSA_FUZZ_SCALE" "${CAPSA_FUZZ_SEED:+, seed $CAPSA_FUZZ_SEED}"
  log="$logs/$(basename "$f").log"
  node --test --import tsx --test-concurrency=1 --test-reporter=tap "$f" >"$log" 2>&1
  rc=$?
  grep -E '^(ok|not ok) |^# (pass|fail|todo) ' "$log"
  if ((rc != 0)); then
    failed+=("$f")
    # fast-check reports "{ seed: N, path: "…", endOnFailure: true }" under the failing test.
    awk -v file="$f" '
      /^# Subtest: / { name = substr($0, 12) }
      /seed: -?[0-9]+, path: / {
        match($0, /seed: -?[0-9]+/); seed = substr($0, RSTART + 6, RLENGTH - 6)
        match($0, /path: "[^"]*"/); p = substr($0, RSTART + 7, RLENGTH - 8)
        printf "FAILED: %s\n  replay: CAPSA_FUZZ_SEED=%s CAPSA_FUZZ_PATH=%s node --test --import tsx --test-name-pattern=\"%s\" %s\n", name, seed, p, name, file
      }' "$log"
    echo "  full output: kept in $f.fuzz.log"
    cp "$log" "$f.fuzz.log"
  fi
done

echo
if ((${#failed[@]})); then
  echo "[fuzz] FAILED: ${failed[*]}"
  exit 1
fi
echo "[fuzz] all properties held (runs x$CAPSA_FUZZ_SCALE)"
