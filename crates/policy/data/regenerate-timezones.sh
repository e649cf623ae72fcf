#!/usr/bin/env bash
# Regenerates timezones.txt — libphonenumber's map from number prefixes (country calling code
# and national digits) to IANA time zones — from the PyPI package phonenumbers 9.0.33, which
# carries libphonenumber's data (Apache-2.0, see LICENSE-libphonenumber.txt). One line per
# prefix, `prefix|Zone&Zone`, the format of libphonenumber's resources/timezones/map_data.txt,
# sorted by prefix. Needs python3 with pip and access to PyPI. Prints the line count and SHA-256,
# which data/README.md records.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps -d "$tmp" phonenumbers==9.0.33
python3 -m zipfile -e "$tmp"/phonenumbers-9.0.33-py2.py3-none-any.whl "$tmp/x"
PYTHONPATH="$tmp/x" python3 -c '
from phonenumbers.tzdata import TIMEZONE_DATA
for prefix in sorted(TIMEZONE_DATA):
    print(prefix + "|" + "&".join(TIMEZONE_DATA[prefix]))
' > timezones.txt
wc -l < timezones.txt
sha256sum timezones.txt
