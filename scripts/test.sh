#!/usr/bin/env bash
# Run the whole test suite: system packages the tests need, the project with its test extras, the
# lint, type and import gate (ruff, mypy, lint-imports), then every test: the date-sensitive ones (marker `dates`) with
# the clock set to each awkward instant of AWKWARD_DATES, beside the rest (one worker per core).
#
#   bash scripts/test.sh                      everything
#   bash scripts/test.sh -k ingest            the gate, then pytest with these arguments only
#   REVWATCH_NOW=2027-01-01T00:30:00Z bash scripts/test.sh -m 'not bench and not trial'
#                                             the suite as of another instant (revwatch/clock.py)
set -euo pipefail
cd "$(dirname "$0")/.."
# The 1st of a month 00:30 UTC (the evening before in America/*), the last day of a month 23:30 UTC,
# the hour America/Los_Angeles repeats when summer time ends, and New Year (ISO week 2026-W53).
AWKWARD_DATES=(2026-12-01T00:30:00Z 2026-11-30T23:30:00Z 2026-11-01T09:30:00Z 2027-01-01T00:30:00Z)

apt_install() {  # Debian packages the tests drive; waits for another apt run rather than failing
  if [ "$(id -u)" = 0 ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
  else
    echo "the tests need Debian's $*: sudo apt-get install $*" >&2
  fi
}
# the browser tests drive Debian's Chromium, never a downloaded one
[ -x /usr/bin/chromium ] || apt_install chromium
# the alerting tests run Debian's promtool and amtool (tests/test_alert_rules.py); nothing in the
# tests uses the prometheus service the package may try to start
{ [ -x /usr/bin/promtool ] && [ -x /usr/bin/prometheus-alertmanager ]; } || apt_install prometheus prometheus-alertmanager
source scripts/venv.sh "[test]"

echo "ruff …"
.venv/bin/ruff check --quiet .
echo "mypy …"
.venv/bin/mypy
echo "import contract …"
.venv/bin/lint-imports --no-cache | tail -n +12  # the contracts, without the banner
if [ $# -gt 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi
# Every test once: the date-sensitive ones (marker `dates`) as of each awkward instant of AWKWARD_DATES in two
# lanes, one instant after another, beside every other test (a test file per worker, a worker per core); the
# main run leaves them to the lanes, which cover them at four fixed instants rather than at whatever today is.
mkdir -p test-artifacts
lane() {
  for ((i = $1; i < ${#AWKWARD_DATES[@]}; i += 2)); do
    at=${AWKWARD_DATES[$i]}
    log="test-artifacts/dates-$at.log"
    if REVWATCH_NOW="$at" .venv/bin/python -m pytest -q -m dates -p no:cacheprovider >"$log" 2>&1; then
      echo "as of $at: $(tail -n 1 "$log")"
    else
      echo "as of $at: FAILED" && cat "$log" && return 1
    fi
  done
}
lane 0 > test-artifacts/lane-0.out 2>&1 & lane0=$!
lane 1 > test-artifacts/lane-1.out 2>&1 & lane1=$!
failed=0
.venv/bin/python -m pytest -n auto --dist loadfile -m "not dates and not bench and not trial" || failed=1
wait $lane0 || failed=1
wait $lane1 || failed=1
cat test-artifacts/lane-0.out test-artifacts/lane-1.out
exit $failed
