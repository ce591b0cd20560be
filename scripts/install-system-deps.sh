#!/usr/bin/env bash
# Install what soc needs from the operating system, only when it is missing:
# Java 17+ and Maven (to assemble the local Elasticsearch node), Python venv support,
# and Japanese fonts (reports are read in Japanese). Debian/Ubuntu only; elsewhere it
# tells you what to install.
set -euo pipefail

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
if ! (command -v fc-list >/dev/null 2>&1 && fc-list :lang=ja 2>/dev/null | grep -q .); then
  missing+=(fonts-noto-cjk fontconfig)
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "soc: please install: ${missing[*]} (Java 17+, Maven, python3-venv, a Japanese font)" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "soc: installing system packages: ${missing[*]}" >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
