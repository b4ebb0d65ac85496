#!/usr/bin/env bash
# npm test's static checks, types (tsc), lint (eslint, which builds its own TypeScript program for the type-aware
# rules) and formatting (prettier), run at once instead of one after the other: each is mostly one process on one
# core, so on 2 cores the three end about when the longest does. Each one's output is printed whole, in this order,
# once all have ended; the exit status is 1 when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bin=node_modules/.bin
"$bin/tsc" --noEmit >"$out/tsc" 2>&1 &
tsc=$!
"$bin/eslint" . >"$out/eslint" 2>&1 &
eslint=$!
"$bin/prettier" --check . >"$out/prettier" 2>&1 &
prettier=$!
failed=0
for check in tsc eslint prettier; do
  if wait "${!check}"; then
    echo "static checks: $check passed"
  else
    failed=1
    echo "static checks: $check FAILED:"
  fi
  cat "$out/$check"
done
exit "$failed"
