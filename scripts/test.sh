#!/usr/bin/env bash
# Run the whole test suite: system packages the tests need, the project with its test extras, pytest.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k ingest`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then  # the browser test drives Debian's Chromium, never a downloaded one
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "the browser test needs Debian's chromium: sudo apt-get install chromium" >&2
  fi
fi
if [ ! -x /usr/bin/promtool ] || [ ! -x /usr/bin/prometheus-alertmanager ]; then
  # the alerting tests run Debian's promtool and amtool (tests/test_alert_rules.py); nothing in
  # the tests uses the prometheus service the package may try to start
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager >/dev/null
  else
    echo "the alerting tests need Debian's promtool and amtool: sudo apt-get install prometheus prometheus-alertmanager" >&2
  fi
fi
source scripts/venv.sh "[test]"
exec .venv/bin/python -m pytest "$@"
