#!/usr/bin/env bash
# Install what soc needs from the operating system, only when it is missing:
# Java 17+ and Maven (to assemble the local Elasticsearch node) and Python venv support
# are required; for reports: Japanese fonts (Noto Sans/Serif CJK JP, reports are read in
# Japanese), the libraries WeasyPrint loads at run time to print PDF (Pango, PangoFT2,
# HarfBuzz with its subsetter), poppler-utils (pdftotext, used by the tests) and rsyslog
# (the syslog receiver of deploy/rsyslog/, run by the collection tests); for the web
# console's browser tests: chromium and chromium-driver (Selenium drives these, never a
# downloaded driver). A failure to install these packages is a warning. Idempotent and non-interactive;
# Debian/Ubuntu only (elsewhere it says what to install); uses sudo when not root.
set -euo pipefail

has_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }

required=()
command -v java >/dev/null 2>&1 || required+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || required+=(maven)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || required+=(python3-venv)

wanted=()
if ! (command -v fc-list >/dev/null 2>&1 && fc-list :lang=ja family 2>/dev/null | grep -q "Noto Sans CJK JP" \
      && fc-list :lang=ja family 2>/dev/null | grep -q "Noto Serif CJK JP"); then
  wanted+=(fonts-noto-cjk fontconfig)
fi
has_lib 'libpango-1\.0\.so\.0' || wanted+=(libpango-1.0-0)
has_lib 'libpangoft2-1\.0\.so\.0' || wanted+=(libpangoft2-1.0-0)
has_lib 'libharfbuzz\.so\.0' || wanted+=(libharfbuzz0b)
has_lib 'libharfbuzz-subset\.so\.0' || wanted+=(libharfbuzz-subset0)
command -v pdftotext >/dev/null 2>&1 || wanted+=(poppler-utils)
# the syslog daemon deploy/rsyslog/ configures (the collection tests run a real one)
{ command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ]; } || wanted+=(rsyslog)
# the headless browser and its driver for the web console's browser tests
[ -x /usr/bin/chromium ] || wanted+=(chromium)
[ -x /usr/bin/chromedriver ] || wanted+=(chromium-driver)

[ ${#required[@]} -eq 0 ] && [ ${#wanted[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  else
    SUDO="none"
  fi
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$SUDO" = "none" ]; then
  [ ${#required[@]} -gt 0 ] && { echo "soc: please install: ${required[*]} (Java 17+, Maven, python3-venv)" >&2; exit 1; }
  echo "soc: warning: for PDF reports in Japanese please install: ${wanted[*]}" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
if [ ${#required[@]} -gt 0 ]; then
  echo "soc: installing system packages: ${required[*]}" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${required[@]}" >/dev/null
fi
if [ ${#wanted[@]} -gt 0 ]; then
  echo "soc: installing report packages (fonts, PDF libraries): ${wanted[*]}" >&2
  if ! $SUDO apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null; then
    # one unknown name (e.g. an older release without libharfbuzz-subset0) must not block the others
    for pkg in "${wanted[@]}"; do
      $SUDO apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null \
        || echo "soc: warning: could not install $pkg; PDF or Japanese reports may be incomplete" >&2
    done
  fi
fi
