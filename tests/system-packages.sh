#!/usr/bin/env bash
# The Debian packages the test suite needs beyond Python, installed only where missing (run by
# `make test` and so by .ci/run):
set -euo pipefail

# the bulletin's PDF (tests/test_reports.py): WeasyPrint prints Chinese with a CJK font and the class
# numerals with DejaVu Sans; the test reads the PDF back with poppler-utils. Installed only where missing.
report_packages=()
[ -n "$(fc-list :lang=zh family)" ] || report_packages+=(fonts-wqy-microhei)
[ -n "$(fc-list "DejaVu Sans" family)" ] || report_packages+=(fonts-dejavu-core)
command -v pdftoppm >/dev/null || report_packages+=(poppler-utils)
if [ ${#report_packages[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${report_packages[@]}"
fi

# the dashboard app's browser tests (tests/test_dashboard_app_browser.py): Debian's chromium, driven
# by Playwright with executable_path (no browser download); a CJK font for the Chinese pages
dashboard_packages=()
command -v chromium >/dev/null || dashboard_packages+=(chromium)
fc-list | grep -qi "wqy-microhei\|noto sans cjk" || dashboard_packages+=(fonts-wqy-microhei)
if [ ${#dashboard_packages[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "tests/system-packages.sh: installing ${dashboard_packages[*]} needs root" >&2; exit 1; }
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${dashboard_packages[@]}"
fi

# the deployment's TLS reverse proxy (tests/test_proxy.py): deploy/proxy/envmon.conf run by Debian's nginx
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || {
  [ "$(id -u)" = 0 ] || { echo "tests/system-packages.sh: installing nginx needs root" >&2; exit 1; }
  apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx
}
