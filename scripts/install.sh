#!/usr/bin/env bash
# Install what custody needs to run on Debian 12, as root: system packages, then a virtual
# environment in .venv with custody. Safe to re-run. The test set-up (a Ceph cluster's
# packages, the test extra, ...) is scripts/install-test.sh, which runs this first.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
# official documents (WeasyPrint): Pango to lay out, Noto CJK fonts to embed, HarfBuzz's
# subsetter (without it WeasyPrint subsets the CJK fonts slowly)
apt_packages=(python3 python3-venv python3-pip ca-certificates libmagic1 ffmpeg clamav clamav-daemon fonts-wqy-zenhei
              libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] || [ "${CUSTODY_APT_ALWAYS:-}" = 1 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e .
echo "custody installed in $(pwd)/.venv"
