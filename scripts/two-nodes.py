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
- a TOTP code used to log in on one node is refused on the other.

    scripts/two-nodes.py --postgres postgres://postgres@127.0.0.1:5432/test

Needs PostgreSQL (psql creates and drops a throwaway database) and moto (`pip install
'moto[server]'`). Only the standard library is used; the set-up is the crash campaign's.
"""

import argparse
import hashlib
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
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
