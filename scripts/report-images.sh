#!/usr/bin/env bash
# Render the README's report images from the current code, after `make demo`:
#   docs/img/report-ja.png  page 1 of the Japanese CISO report of a demo incident that the
#                           CSIRT worked: acknowledged, scoped, "compromised", declared
#   docs/img/summary-ja.png page 1 of the Japanese SOC summary from the demo's simulated day to now
# Usage: scripts/report-images.sh [demo out dir (default: out)]
# Needs pdftoppm (poppler-utils). Works on the demo's own indices (prefix soc-demo, or $SOC_INDEX_PREFIX).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out}"
soc=.venv/bin/soc
export SOC_INDEX_PREFIX="${SOC_INDEX_PREFIX:-soc-demo}" SOC_ACTOR=k.sato
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# the first open unauthorised-login incident with an account in it
id="$($soc incidents list --json | .venv/bin/python -c '
import json, sys
found = [i["id"] for i in map(json.loads, sys.stdin)
         if i.get("playbook_id") == "unauthorised-login" and i["entities"].get("user.name") and i["status"] == "new"]
print(found[0] if found else "")
')"  # reads the whole list: stopping early would break the pipe
[ -n "$id" ] || { echo "no new unauthorised-login incident with an account: run make demo first" >&2; exit 1; }

$soc incidents ack "$id" >/dev/null
$soc incidents ack "$id" --step confirm-scope >/dev/null 2>&1 || true
$soc incidents step done "$id" confirm-scope --note "標的アカウントと送信元を確認" --evidence ticket://SOC-101 >/dev/null
$soc incidents decide "$id" check-compromise compromised --by m.tanaka --comment "攻撃元からのログイン成功（4624）を確認" >/dev/null
$soc incidents transition "$id" declared --by m.tanaka --reason "アカウントの乗っ取りを確認" >/dev/null
$soc report incident "$id" --lang ja --format pdf --out "$work" >/dev/null
# the SOC summary from the start of the simulated day until now (alerts are dated when raised)
from="$(.venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))["range"]["from"])' "$out/summary.json")"
$soc report summary --from "$from" --lang ja --format pdf --out "$work" >/dev/null

pdftoppm -r 110 -png -f 1 -l 1 "$work/$id.ja.pdf" "$work/report"
pdftoppm -r 110 -png -f 1 -l 1 "$(ls "$work"/summary-*.ja.pdf | head -1)" "$work/summary"
mkdir -p docs/img
cp "$(ls "$work"/report*.png | head -1)" docs/img/report-ja.png
cp "$(ls "$work"/summary*.png | head -1)" docs/img/summary-ja.png
echo "docs/img/report-ja.png ($id) and docs/img/summary-ja.png written"
