#!/usr/bin/env python3
"""Render time of the web console's main pages on the demo data, beside the API calls the same
pages are built from (the peer: the same services answering JSON), in one run.

Starts `callvault serve --demo` (the release binary by default), signs each role in through the
API (the console's cookie carries the same session token), then requests every page N times over
one keep-alive connection on loopback and prints p50 / p95 / max per page and per API call. The
target (issue 19): p95 <= 50 ms per page.

    scripts/bench-console.py                       # release binary, 300 requests per page
    scripts/bench-console.py --requests 30 --binary target/debug/callvault   # a bounded run

Only the standard library is used.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

PASSWORD = "console benchmark operator passphrase"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def totp(secret, step):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    d = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    o = d[-1] & 0x0F
    return f"{(struct.unpack('>I', d[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, token=None, body=None, cookie=None):
        headers = {"Host": f"127.0.0.1:{self.conn.port}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if cookie:
            headers["Cookie"] = f"__Host-callvault={cookie}"
            headers["Accept"] = "text/html"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        payload = r.read()
        return r.status, payload


def sign_in(c, tenant, login, password):
    """A session token; enrols TOTP when the role requires it (the session then is full)."""
    body = {"username": login, "password": password}
    if tenant:
        body["tenant"] = tenant
    st, v = c.call("POST", "/v1/auth/login", body=body)
    assert st == 200, (st, v)
    v = json.loads(v)
    token = v["token"]
    if v["purpose"] == "enroll_totp":
        st, e = c.call("POST", "/v1/auth/totp/enroll", token, {})
        secret = json.loads(e)["secret"]
        st, r = c.call("POST", "/v1/auth/totp/confirm", token, {"code": totp(secret, int(time.time()) // 30)})
        assert st == 200
        # The enrolment session is replaced by a full one under a new token.
        token = json.loads(r)["session"]["token"]
    return token


def measure(c, path, n, token=None, cookie=None):
    times = []
    status = None
    for _ in range(n):
        t = time.perf_counter()
        status, body = c.call("GET", path, token=token, cookie=cookie)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return status, len(body), statistics.median(times), p95, times[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/callvault")
    ap.add_argument("--requests", type=int, default=300)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="callvault-bench-console-")
    port = free_port()
    env = dict(os.environ, CALLVAULT_BOOTSTRAP_PASSWORD=PASSWORD, CALLVAULT_KEK_FILE=os.path.join(work, "kek"),
               CALLVAULT_LOG_LEVEL="warn")
    proc = subprocess.Popen([os.path.abspath(args.binary), "serve", "--demo", "--listen", f"127.0.0.1:{port}",
                             "--data-dir", os.path.join(work, "data")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    logins = {}
    for line in proc.stdout:
        parts = line.split()
        if len(parts) == 3 and parts[0] != "ROLE" and not line.startswith("Created"):
            logins[parts[1]] = parts[2]
        if "listening on" in line:
            break
    try:
        c = Client(port)
        sessions = {name: sign_in(c, "demo", name, pw) for name, pw in logins.items()}
        sessions["operator"] = sign_in(c, None, "admin", PASSWORD)
        st, teams = c.call("GET", "/v1/teams", sessions["supervisor"])
        team = json.loads(teams)[0]["id"]
        day = 86_400
        today = int(time.time()) // day * day
        iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        period = f"from={iso(today - 6 * day)}&to={iso(today + day)}"
        # (role, console page, the API call(s) the page is built from)
        cases = [
            ("agent", "/recordings", ["/v1/objects"]),
            ("supervisor", "/team", [f"/v1/teams/{team}/performance?{period}", "/v1/users"]),
            ("supervisor", "/calls", ["/v1/calls"]),
            ("administrator", "/users", ["/v1/users"]),
            ("administrator", "/grants", ["/v1/grants", "/v1/roles", "/v1/users"]),
            ("security", "/keys", ["/v1/keys", "/v1/key-ceremonies", "/v1/jobs"]),
            ("dpo", "/requests", ["/v1/dpo-requests"]),
            ("auditor", "/audit", ["/v1/audit/tree-head", "/v1/audit/entries?limit=200"]),
            ("operator", "/tenants", ["/v1/tenants"]),
        ]
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; binary {args.binary}; "
              f"{args.requests} requests per page, one keep-alive connection, loopback")
        print(f"{'role':<14} {'page / API call':<52} {'status':>6} {'bytes':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        worst = 0.0
        for role, page, peers in cases:
            # Warm up (first reads open the caches, as on a running server).
            measure(c, page, 5, cookie=sessions[role])
            st, size, p50, p95, mx = measure(c, page, args.requests, cookie=sessions[role])
            worst = max(worst, p95)
            print(f"{role:<14} {page:<52} {st:>6} {size:>7} {p50:>8.2f} {p95:>8.2f} {mx:>8.2f}")
            total50 = total95 = 0.0
            for api in peers:
                measure(c, api, 5, token=sessions[role])
                st, size, p50, p95, mx = measure(c, api, args.requests, token=sessions[role])
                total50 += p50
                total95 += p95
                print(f"{'':<14} {'  peer: ' + api[:44]:<52} {st:>6} {size:>7} {p50:>8.2f} {p95:>8.2f} {mx:>8.2f}")
            if len(peers) > 1:
                print(f"{'':<14} {'  peer: the calls one after another':<52} {'':>6} {'':>7} {total50:>8.2f} {total95:>8.2f}")
        print(f"worst page p95: {worst:.2f} ms (target <= 50 ms): {'met' if worst <= 50 else 'NOT met'}")
        if worst > 50:
            sys.exit(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
