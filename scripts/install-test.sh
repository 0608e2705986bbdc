#!/usr/bin/env bash
# Install what the test suite needs on Debian 12, as root: everything scripts/install.sh
# installs, then the servers and tools only the tests use (a single-node Ceph cluster with the
# RADOS Gateway, a real S3 Object Lock server for tests/support/ceph.py; ClamAV's test files;
# chromium) and custody's test extra. Safe to re-run. An archive server needs none of this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh

export DEBIAN_FRONTEND=noninteractive
# ceph-mon, ceph-osd and radosgw bring ceph-common (the ceph and rados tools) with them
# poppler-utils: the documents' tests read text boxes (pdftotext -bbox-layout) and pages as
# pictures (pdftoppm)
apt_packages=(ceph-mon ceph-osd radosgw clamav-testfiles chromium chromium-driver poppler-utils)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] || [ "${CUSTODY_APT_ALWAYS:-}" = 1 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

.venv/bin/python -m pip install -q -e '.[test]'
echo "custody and its tests installed in $(pwd)/.venv"

# mongoeco, a MongoDB wire-protocol server in Python, for the MongoDB catalog's tests over a real
# socket (tests/support/wire.py): it needs Python >= 3.13, which Debian 12 lacks, so it gets a
# virtualenv of its own from whichever such Python is here. Without one the wire tests skip;
# the install never fails for it (set -e is suspended by the if/|| around each step).
wire_python=""
for candidate in "$(command -v python3.13 || true)" /root/.pyenv/versions/3.13*/bin/python; do
  # run it rather than trust the name: a pyenv shim exists even where its version is not set
  if [ -n "$candidate" ] && [ -x "$candidate" ] &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
    wire_python="$candidate"
    break
  fi
done
if [ -z "$wire_python" ]; then
  echo "no Python >= 3.13 found: the mongoeco wire tests will be skipped"
elif { [ -x .venv-wire/bin/python ] || "$wire_python" -m venv .venv-wire; } &&
     .venv-wire/bin/python -m pip install -q 'mongoeco[wire]>=4.11,<5'; then
  echo "mongoeco wire server installed in $(pwd)/.venv-wire (with $wire_python)"
else
  # a half-made .venv-wire would make the wire tests fail instead of skipping
  rm -rf .venv-wire
  echo "could not install mongoeco[wire] in .venv-wire: the mongoeco wire tests will be skipped"
fi
