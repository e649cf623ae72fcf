#!/usr/bin/env bash
# Regenerates nanp-areas.txt — which US state or Canadian province each NANP area code belongs
# to — from libphonenumber's geocoding data (the 4-digit `1NPA` entries of its English map) in
# the PyPI package phonenumbers 9.0.33 (Apache-2.0, see LICENSE-libphonenumber.txt). One line
# per area code, `NPA|CC-SS` (ISO 3166-2), sorted. Area codes without a single state (toll-free,
# non-geographic, other NANP countries) are left out. Prints the line count and SHA-256, which
# data/README.md records.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps -d "$tmp" phonenumbers==9.0.33
python3 -m zipfile -e "$tmp"/phonenumbers-9.0.33-py2.py3-none-any.whl "$tmp/x"
PYTHONPATH="$tmp/x" python3 -c '
from phonenumbers.geodata import GEOCODE_DATA
us = dict(Alabama="AL", Alaska="AK", Arizona="AZ", Arkansas="AR", California="CA", Colorado="CO",
    Connecticut="CT", Delaware="DE", Florida="FL", Georgia="GA", Hawaii="HI", Idaho="ID",
    Illinois="IL", Indiana="IN", Iowa="IA", Kansas="KS", Kentucky="KY", Louisiana="LA",
    Maine="ME", Maryland="MD", Massachusetts="MA", Michigan="MI", Minnesota="MN",
    Mississippi="MS", Missouri="MO", Montana="MT", Nebraska="NE", Nevada="NV",
    **{"New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
       "North Carolina": "NC", "North Dakota": "ND", "Rhode Island": "RI",
       "South Carolina": "SC", "South Dakota": "SD", "West Virginia": "WV",
       "Washington D.C.": "DC", "Washington DC": "DC", "District of Columbia": "DC",
       "Washington State": "WA"},
    Ohio="OH", Oklahoma="OK", Oregon="OR", Pennsylvania="PA", Tennessee="TN", Texas="TX",
    Utah="UT", Vermont="VT", Virginia="VA", Washington="WA", Wisconsin="WI", Wyoming="WY")
ca = dict(Alberta="AB", Manitoba="MB", Ontario="ON", Quebec="QC", Saskatchewan="SK",
    Yukon="YT", Nunavut="NU", **{"British Columbia": "BC", "New Brunswick": "NB",
    "Newfoundland and Labrador": "NL", "Nova Scotia": "NS", "Prince Edward Island": "PE",
    "Northwest Territories": "NT", "Nova Scotia/Prince Edward Island": "NS",
    "Yukon/Northwest Territories/Nunavut": "YT", "Northwest Territories/Nunavut/Yukon": "YT", "British Colombia": "BC"})
for prefix in sorted(GEOCODE_DATA):
    if len(prefix) != 4 or not prefix.startswith("1"):
        continue
    name = GEOCODE_DATA[prefix].get("en", "")
    if name[-4:-2] == ", ":  # a city: "Chicago, IL"
        code = name[-2:]
        name = next((n for n, c in ca.items() if c == code), None) or next((n for n, c in us.items() if c == code), "")
    if name in us:
        print(prefix[1:] + "|US-" + us[name])
    elif name in ca:
        print(prefix[1:] + "|CA-" + ca[name])
' > nanp-areas.txt
wc -l < nanp-areas.txt
sha256sum nanp-areas.txt
