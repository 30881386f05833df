#!/usr/bin/env bash
# Run the whole test suite: system packages the tests need, the project with its test extras, the
# lint, type and import gate (ruff, mypy, lint-imports), then every test: all but the date-sensitive ones (one worker
# per core), then those (marker `dates`) with the clock set to each awkward instant of AWKWARD_DATES.
#
#   bash scripts/test.sh                      everything
#   bash scripts/test.sh -k ingest            the gate, then pytest with these arguments only
#   REVWATCH_NOW=2027-01-01T00:30:00Z bash scripts/test.sh -m 'not bench and not trial'
#                                             the suite as of another instant (revwatch/clock.py)
set -euo pipefail
cd "$(dirname "$0")/.."
# Each instant puts several boundaries at once: New Year's Eve 23:30 UTC (the last day of a month and of a year in
# UTC and America/*, already the 1st of January in Europe and Asia), New Year 00:30 UTC (the 1st of a month and a
# year in UTC, still the evening before in America/*; ISO week 2026-W53), and the hour America/Los_Angeles repeats
# when summer time ends (01:30 PST, the 1st of November there and in UTC).
AWKWARD_DATES=(2026-12-31T23:30:00Z 2027-01-01T00:30:00Z 2026-11-01T09:30:00Z)

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
.venv/bin/mypy --cache-dir "${XDG_CACHE_HOME:-$HOME/.cache}/revwatch/mypy"  # outside the checkout: a new clone starts warm
echo "import contract …"
.venv/bin/lint-imports --no-cache | tail -n +12  # the contracts, without the banner
if [ $# -gt 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi
# Every test once: every test but the date-sensitive ones (a test file per worker, a worker per core), then those
# (marker `dates`) as of each awkward instant of AWKWARD_DATES, all at once. They run at those instants only, not at
# whatever today is too: today is one more ordinary day.
# The slowest files first: xdist hands the files to its workers in the order given, and a long one handed out last
# would run alone at the end while the other worker idles.
SLOW_FIRST=(tests/test_signin.py tests/test_weekly_report.py tests/test_visual.py tests/test_worker.py
            tests/test_alerting_e2e.py tests/test_up.py tests/test_first_start.py tests/test_wheel.py
            tests/test_alert_rules.py tests/test_shadow_rating_sql.py tests/test_roles.py tests/test_browser_work_queue.py)
mapfile -t rest < <(ls tests/test_*.py | grep -vxF -f <(printf '%s\n' "${SLOW_FIRST[@]}"))
.venv/bin/python -m pytest -n auto --dist loadfile -m "not dates and not bench and not trial" "${SLOW_FIRST[@]}" "${rest[@]}"
mkdir -p test-artifacts
failed=0
mapfile -t dated < <(grep -l "pytest.mark.dates" tests/test_*.py)  # collecting only these: no other module imported
for at in "${AWKWARD_DATES[@]}"; do
  (
    log="test-artifacts/dates-$at.log"
    if REVWATCH_NOW="$at" .venv/bin/python -m pytest -q -m dates -p no:cacheprovider "${dated[@]}" >"$log" 2>&1; then
      echo "as of $at: $(tail -n 1 "$log")"
    else
      echo "as of $at: FAILED" && cat "$log" && exit 1
    fi
  ) &
done
for _ in "${AWKWARD_DATES[@]}"; do wait -n || failed=1; done
exit $failed
