#!/usr/bin/env python3
"""Two real `callvault serve` processes on one PostgreSQL database and one S3 server (moto).

Each node has its own port, node id and data directory; they share the database, the bucket and
the key-encryption key file. Checked:

- a key job SIGKILLed on its node is taken over by the other once its lease ends (the nodes run
  with `job_lease_secs = 5`) and finishes there, every object then verified through the other
  node (the SHA-256 of its content);
- a brute force alternating between the nodes is counted once in the database: the 100th
  failure locks the account (security officers get one `account_locked` notification naming 100
  failures) and the right password is refused on both nodes afterwards (the nodes run with
  `danger_test_login_delay_divisor = 1000`, so 100 failures take seconds, not 14 minutes);
- a TOTP code used to log in on one node is refused on the other;
- a downgrade alert produced on node A reaches an agent's SSE stream on node B (100 calls; the
  p50/p99 from the request on A to the event on B are printed; p99 must be at most 100 ms);
- a Florida number's fourth call is refused whichever node the check reaches, and concurrent
  checks on both nodes take exactly the three calls allowed;
- a call whose SIP legs arrive alternately at the two nodes ends in the state it reaches when
  every message goes to one node.

    scripts/two-nodes.py --postgres postgres://postgres@127.0.0.1:5432/test

Needs PostgreSQL (psql creates and drops a throwaway database) and moto (`pip install
'moto[server]'`). Only the standard library is used; the set-up is the crash campaign's.
"""

import argparse
import concurrent.futures
import hashlib
import http.client
import importlib.util
import json
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("crash_campaign", os.path.join(HERE, "crash-campaign.py"))
cc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cc)


def psql(base_url, sql):
    subprocess.run(["psql", base_url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def status_of(api, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api.server.base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def job_kill_and_takeover(nodes, apis, people, rnd):
    a, b = nodes
    recorder, custodians, _boss = people
    custody = cc.Custody(apis[0], custodians)
    officer = custodians[0]
    objects = {}
    for _ in range(120):
        data = rnd.randbytes(rnd.randrange(1_000, 400_000))
        o = json.loads(apis[0].call("POST", f"/v1/objects?class=voice&size={len(data)}&consent=true", recorder.token,
                                    raw=data, content_type="audio/wav"))
        objects[o["id"]] = hashlib.sha256(data).hexdigest()
    # Only node A runs while the job starts, so node A holds it.
    b.stop()
    job = cc.job_of(custody.ceremony("enable_encryption"))
    # SIGKILL somewhere in the first two thirds of the job.
    target = rnd.randrange(10, len(objects) * 2 // 3)
    deadline = time.time() + 60
    while True:
        j = apis[0].call("GET", f"/v1/jobs/{job}", officer.token)
        if j["objects_done"] >= target or j["state"] != "running" or time.time() > deadline:
            break
        time.sleep(0.005)
    if j["state"] != "running":
        sys.exit(f"the job ended before the kill: {j}")
    a.kill()
    killed_at = time.time()
    done_at_kill = j["objects_done"]
    b.start()
    final = cc.wait_done(apis[1], officer.token, job)
    took = time.time() - killed_at
    if final["state"] != "done" or final["failures"] or final["objects_done"] != len(objects):
        sys.exit(f"job after the takeover: {final}")
    bad = cc.verify(apis[1], recorder.token, objects, True)
    if bad:
        sys.exit(f"{bad} objects did not verify after the takeover")
    a.start()
    print(f"job: node A SIGKILLed at {done_at_kill}/{len(objects)} objects; node B finished it {took:.1f} s later; "
          f"all {len(objects)} objects verified through node B", flush=True)


def brute_force(apis, boss, officer):
    login = f"target{random.randrange(1 << 30)}"
    u = apis[0].call("POST", "/v1/users", boss.token, {"login": login, "first_name": "T", "last_name": "Arget",
                                                       "password": cc.FIRST_PASSWORD, "assignments": {}})
    attempts = 0
    for i in range(100):
        api = apis[i % 2]
        st, _ = status_of(api, "POST", "/v1/auth/login",
                          {"tenant": "crash", "username": login, "password": f"wrong guess {i}"})
        if st != 401:
            sys.exit(f"guess {i}: {st}")
        attempts += 1
        # Past the (divided) delay of the schedule: every guess reaches the password check.
        time.sleep(0.015)
    refused = [status_of(api, "POST", "/v1/auth/login",
                         {"tenant": "crash", "username": login, "password": cc.FIRST_PASSWORD})[0] for api in apis]
    if refused != [401, 401]:
        sys.exit(f"the right password after 100 failures answered {refused}; the account should be locked")
    notes = apis[1].call("GET", "/v1/notifications", officer.token)
    locked = [n for n in notes if n["kind"] == "account_locked" and n["details"]["principal"].endswith(u["id"])]
    if len(locked) != 1 or locked[0]["details"]["failures"] != 100:
        sys.exit(f"expected one account_locked notification at 100 failures, got {locked}")
    print(f"brute force: {attempts} wrong passwords alternating between the nodes locked the account at "
          f"{locked[0]['details']['failures']} failures; the right password refused on both nodes", flush=True)


def totp_replay(apis, custodian):
    step = int(time.time()) // 30
    code = cc.totp_code(custodian.secret, step)
    body = {"tenant": "crash", "username": custodian.login, "password": cc.PASSWORD, "totp": code}
    st_a, _ = status_of(apis[0], "POST", "/v1/auth/login", body)
    st_b, _ = status_of(apis[1], "POST", "/v1/auth/login", body)
    if st_a not in (200, 201) or st_b != 401:
        sys.exit(f"TOTP code used on node A answered {st_a}; the same code on node B answered {st_b} (expected 401)")
    custodian.last_step = max(custodian.last_step, step)
    print("totp: a code used on node A was refused on node B", flush=True)


class Sse:
    """A server-sent event stream read by a thread: (id, data, arrival) per event."""

    def __init__(self, server, path, token):
        self.events = queue.Queue()
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"})
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            sys.exit(f"GET {path}: {self.resp.status}")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        frame = {}
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    return
                line = line.decode().rstrip("\r\n")
                if not line:
                    if "data" in frame:
                        self.events.put((frame.get("id"), json.loads(frame["data"]), time.monotonic()))
                    frame = {}
                    continue
                key, _, value = line.partition(":")
                frame[key] = value.strip()
        except (OSError, ValueError):
            return

    def next(self, timeout):
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None


def service_account(api, boss, name, role="dialer"):
    roles = {r["name"]: r["id"] for r in api.call("GET", "/v1/roles", boss.token)}
    sa = api.call("POST", "/v1/service-accounts", boss.token,
                  {"name": name, "role_id": roles[role], "scope": {"kind": "tenant"}})
    return sa["token"]


def alerts_across_nodes(nodes, apis, boss, recorder):
    users = apis[0].call("GET", "/v1/users", boss.token)
    users = users.get("users", users) if isinstance(users, dict) else users
    rec_id = next(u["id"] for u in users if u["login"] == "recorder")
    apis[0].call("PUT", "/v1/stations/desk-12", boss.token,
                 {"sip_user": "1012", "user": rec_id, "level": "end_to_edge", "kind": "station"})
    pbx = service_account(apis[0], boss, "pbx")
    stream = Sse(nodes[1], "/v1/calls/alerts/stream", recorder.token)
    sdes = {"media": "sdes_srtp", "detail": "AES_CM_128_HMAC_SHA1_80"}
    latencies = []
    for i in range(100):
        call = f"alert-{i}"
        apis[0].call("POST", "/v1/calls/events", pbx, {"call": call, "events": [
            {"type": "leg_added", "leg": "a", "party": {"kind": "station", "name": "desk-12"}},
            {"type": "leg_added", "leg": "b", "party": {"kind": "gateway", "name": "srtp-gw"}},
            {"type": "answer", "leg": "a", "media": sdes, "signalling": "tls"},
            {"type": "answer", "leg": "b", "media": sdes, "signalling": "tls"}]})
        sent = time.monotonic()
        v = apis[0].call("POST", "/v1/calls/events", pbx, {"call": call, "events": [
            {"type": "transfer", "from": "b", "to": "c", "party": {"kind": "trunk", "name": "carrier-udp"}},
            {"type": "answer", "leg": "c", "media": {"media": "plain_rtp", "detail": None}, "signalling": "plain"}]})
        got = stream.next(10)
        if got is None:
            sys.exit(f"{call}: no alert on node B within 10 s")
        if got[1]["call_id"] != v["call"]["id"]:
            sys.exit(f"{call}: node B streamed {got[1]}, expected call {v['call']['id']}")
        latencies.append((got[2] - sent) * 1000)
    if stream.next(0.5) is not None:
        sys.exit("an alert was streamed twice on node B")
    latencies.sort()
    p50, p99 = latencies[49], latencies[98]
    print(f"alerts: 100 downgrades on node A reached the agent's stream on node B: p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms", flush=True)
    if p99 > 100:
        sys.exit(f"alert p99 {p99:.1f} ms is over 100 ms")


def florida_limit(apis, boss):
    dialer = service_account(apis[0], boss, "predictive")
    # No calling hours, so the outcome does not depend on the hour the test runs at.
    apis[0].call("PUT", "/v1/dial/rules", boss.token, raw=b"US-FL limit 3 per 24h -- Fla. Stat. 501.616\n",
                 content_type="text/plain")
    time.sleep(0.3)

    def check(api, number):
        r = api.call("POST", "/v1/dial-checks", dialer, {"direction": "outbound_call", "number": number})
        return r["results"][0]

    seen = []
    for i in range(6):
        d = check(apis[i % 2], "+13055550111")
        codes = [r["code"] for r in d["reasons"] if r["denies"]]
        seen.append("allowed" if d["allowed"] else ",".join(codes))
    if seen != ["allowed"] * 3 + ["call_limit"] * 3:
        sys.exit(f"a Florida number checked alternately on nodes A and B: {seen}")
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: check(apis[i % 2], "+13055550122"), range(20)))
    taken = sum(1 for d in results if d["allowed"])
    if taken != 3:
        sys.exit(f"20 concurrent checks of one Florida number on two nodes allowed {taken} calls, not 3")
    print("florida: calls 1-3 allowed and 4-6 refused (call_limit) alternating between the nodes; 20 concurrent "
          f"checks on both nodes allowed {taken}", flush=True)


SDP_SDES = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 16000 RTP/SAVP 0\r\n"
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n")


def sip(call, kind, sdp=None):
    head = {
        "invite": f"INVITE sip:uas@127.0.0.1:15080 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:15090;branch=z9hG4bK-1\r\n"
                  f"From: <sip:a@127.0.0.1>;tag=a1\r\nTo: <sip:uas@127.0.0.1>\r\nCall-ID: {call}\r\nCSeq: 1 INVITE\r\n",
        "ok": f"SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 127.0.0.1:15090;branch=z9hG4bK-1\r\nFrom: <sip:a@127.0.0.1>;tag=a1\r\n"
              f"To: <sip:uas@127.0.0.1>;tag=b2\r\nCall-ID: {call}\r\nCSeq: 1 INVITE\r\n",
        "bye": f"BYE sip:uas@127.0.0.1:15080 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:15090;branch=z9hG4bK-2\r\n"
               f"From: <sip:a@127.0.0.1>;tag=a1\r\nTo: <sip:uas@127.0.0.1>;tag=b2\r\nCall-ID: {call}\r\nCSeq: 2 BYE\r\n",
    }[kind]
    if sdp is None:
        return (head + "Content-Length: 0\r\n\r\n").encode()
    return (head + f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}").encode()


def legs_across_nodes(apis, boss):
    sbc = service_account(apis[0], boss, "sbc")
    offer_32 = SDP_SDES.replace("HMAC_SHA1_80", "HMAC_SHA1_32")
    held = SDP_SDES.replace("RTP/SAVP 0\r\n", "RTP/SAVP 0\r\na=sendonly\r\n")

    def script(call):
        return [("uac", sip(call, "invite", offer_32)), ("uas", sip(call, "invite", SDP_SDES)),
                ("uas", sip(call, "ok", SDP_SDES)), ("uac", sip(call, "ok", SDP_SDES)),
                ("uas", sip(call, "invite", held)), ("uas", sip(call, "invite", SDP_SDES)), ("uas", sip(call, "bye"))]

    for leg, msg in script("one-node"):
        apis[0].call("POST", f"/v1/calls/sip?leg={leg}", sbc, raw=msg, content_type="message/sip")
    for i, (leg, msg) in enumerate(script("two-nodes")):
        apis[i % 2].call("POST", f"/v1/calls/sip?leg={leg}", sbc, raw=msg, content_type="message/sip")
    calls = apis[1].call("GET", "/v1/calls?all=true", boss.token)["calls"]
    one = next(c for c in calls if c["call_key"] == "one-node")
    two = next(c for c in calls if c["call_key"] == "two-nodes")
    if one["state"] != two["state"]:
        sys.exit(f"legs alternating between the nodes ended in another state:\n one node: {one['state']}\n"
                 f" two nodes: {two['state']}")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for i in range(20):
            call = f"race-{i}"
            list(pool.map(lambda a: apis[a[0]].call("POST", f"/v1/calls/sip?leg={a[1]}", sbc,
                                                    raw=sip(call, "invite", SDP_SDES), content_type="message/sip"),
                          [(0, "uac"), (1, "uas")]))
    calls = apis[0].call("GET", "/v1/calls?limit=1000", boss.token)["calls"]
    races = [c for c in calls if c["call_key"].startswith("race-")]
    if len(races) != 20 or any(len(c["state"]["legs"]) != 2 for c in races):
        sys.exit(f"first INVITEs of both sides at once on the two nodes: {len(races)} calls, legs "
                 f"{[len(c['state']['legs']) for c in races]}")
    print(f"legs: a call's seven SIP messages alternating between the nodes ended as on one node "
          f"({two['state']['security']}, {two['state']['cause']['code']}); 20 calls whose two first INVITEs reached "
          f"both nodes at once are one call with two legs each", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--postgres", default=os.environ.get("CALLVAULT_POSTGRES_TEST_URL",
                                                         "postgres://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "target", "debug", "callvault"))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    rnd = random.Random(7)
    work = tempfile.mkdtemp(prefix="cv-nodes-")
    db = f"cv_nodes_{os.getpid()}_{random.randrange(1 << 30)}"
    psql(args.postgres, f"CREATE DATABASE {db}")
    parsed = urllib.parse.urlsplit(args.postgres)
    db_url = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, "/" + db, parsed.query, ""))
    s3 = cc.S3(work)
    nodes = []
    started = time.time()
    try:
        shared = {**s3.env(), "CALLVAULT_DATABASE_URL": db_url,
                  "CALLVAULT_KEK_FILE": os.path.join(work, "secrets", "kek"),
                  "CALLVAULT_JOB_LEASE_SECS": "5", "CALLVAULT_DANGER_TEST_LOGIN_DELAY_DIVISOR": "1000",
                  "CALLVAULT_PURGE_INTERVAL_SECS": "0"}
        for name in ("a", "b"):
            home = os.path.join(work, name)
            os.makedirs(home)
            nodes.append(cc.Server(os.path.abspath(args.binary), home, {**shared, "CALLVAULT_NODE_ID": f"node-{name}"}))
        for n in nodes:
            n.start()
        apis = [cc.Api(n) for n in nodes]
        people = cc.setup(apis[0], 4)
        recorder, custodians, boss = people
        totp_replay(apis, custodians[3])
        alerts_across_nodes(nodes, apis, boss, recorder)
        florida_limit(apis, boss)
        legs_across_nodes(apis, boss)
        brute_force(apis, boss, custodians[0])
        job_kill_and_takeover(nodes, apis, people, rnd)
        print(f"two nodes: all checks passed in {time.time() - started:.1f} s", flush=True)
        return 0
    finally:
        for n in nodes:
            n.stop()
        s3.stop()
        try:
            psql(args.postgres, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        except subprocess.CalledProcessError:
            pass
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
