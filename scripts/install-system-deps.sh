#!/usr/bin/env bash
# Install what soc needs from the operating system, only when it is missing:
# Java 17+ and Maven (to assemble the local Elasticsearch node) and Python venv support
# are required; Japanese fonts (reports are read in Japanese) are wanted, and a failure
# to install them is a warning. Debian/Ubuntu only; elsewhere it says what to install.
set -euo pipefail

required=()
command -v java >/dev/null 2>&1 || required+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || required+=(maven)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || required+=(python3-venv)
wanted=()
if ! (command -v fc-list >/dev/null 2>&1 && fc-list :lang=ja 2>/dev/null | grep -q .); then
  wanted+=(fonts-noto-cjk fontconfig)
fi
[ ${#required[@]} -eq 0 ] && [ ${#wanted[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  [ ${#required[@]} -gt 0 ] && { echo "soc: please install: ${required[*]} (Java 17+, Maven, python3-venv)" >&2; exit 1; }
  echo "soc: warning: no Japanese font found; install Noto Sans CJK JP for Japanese reports" >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
if [ ${#required[@]} -gt 0 ]; then
  echo "soc: installing system packages: ${required[*]}" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${required[@]}" >/dev/null
fi
if [ ${#wanted[@]} -gt 0 ]; then
  echo "soc: installing Japanese fonts: ${wanted[*]}" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null \
    || echo "soc: warning: could not install ${wanted[*]}; Japanese reports may lack glyphs" >&2
fi
