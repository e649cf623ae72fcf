#!/usr/bin/env python3
"""Crash campaign for the encryption jobs and the retention purge.

Starts a real `callvault serve`, sets up a tenant with four key custodians (password + TOTP)
and a recorder, uploads objects of random content, then for each job kind — encrypt-all,
rewrap, re-encrypt, decrypt-all — runs the dual-control ceremony that starts the job and
SIGKILLs the server at random moments while the job runs, restarting it each time. After the
kills the job is left to finish and every object is read back through the API: its SHA-256 must
equal the original's. Then objects recorded long ago are purged by a retention policy while the
server is SIGKILLed the same way: each expired object must end up erased (410), none half-deleted
(a row whose content no longer reads), and every object within its retention must still verify.
Exit status 0 only when every object of every phase verified.

    scripts/crash-campaign.py --kills 10                # CI: at least 10 kills per job kind
    scripts/crash-campaign.py --kills 100 --objects 400 # a longer run
    scripts/crash-campaign.py --kills 5 --s3            # blobs on an S3 server (moto, started here)

Only the standard library is used.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

PASSWORD = "crash campaign passphrase"
# What an administrator gives a new account; its holder replaces it at once.
FIRST_PASSWORD = "first passphrase handed over"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3:
    """moto in server mode on a free loopback port, with one bucket."""

    def __init__(self, work):
        self.port = free_port()
        self.bucket = "crash-campaign"
        self.log = open(os.path.join(work, "moto.log"), "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while True:
            try:
                req = urllib.request.Request(f"{self.endpoint}/{self.bucket}", method="PUT", data=b"")
                with urllib.request.urlopen(req, timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.time() > deadline or self.proc.poll() is not None:
                    sys.exit("moto did not start (pip install 'moto[server]')")
                time.sleep(0.1)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def env(self):
        # Credentials through the standard AWS variables (moto accepts any).
        return {"CALLVAULT_BLOB_STORE": "s3", "CALLVAULT_S3_ENDPOINT": self.endpoint,
                "CALLVAULT_S3_BUCKET": self.bucket, "AWS_ACCESS_KEY_ID": "crash", "AWS_SECRET_ACCESS_KEY": "crash"}

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Server:
    def __init__(self, binary, work, extra_env=None):
        self.binary = binary
        self.work = work
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.proc = None
        self.log = open(os.path.join(work, "server.log"), "ab")
        self.starts = 0

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        env = dict(os.environ)
        env.update({
            "CALLVAULT_KEK_FILE": os.path.join(self.work, "secrets", "kek"),
            "CALLVAULT_BOOTSTRAP_PASSWORD": PASSWORD,
            "CALLVAULT_LOG_LEVEL": "warn",
            # Custodians are appointed at set-up and run ceremonies at once.
            "CALLVAULT_CUSTODIAN_COOLING_OFF_SECS": "0",
            # The purge runs every second, in small batches, so kills land inside it.
            "CALLVAULT_PURGE_INTERVAL_SECS": "1",
            "CALLVAULT_PURGE_BATCH": "5",
        })
        env.update(self.extra_env)
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", os.path.join(self.work, "data")],
            env=env, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        self.starts += 1
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        sys.exit("server did not become ready")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


class Api:
    def __init__(self, server):
        self.server = server

    def call(self, method, path, token=None, body=None, raw=None, content_type="application/json", ok=(200, 201, 204)):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.server.base + path, data=data, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                payload = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            payload = e.read()
            status = e.code
        if status not in ok:
            sys.exit(f"{method} {path}: {status} {payload[:500]!r}")
        if raw is None and payload and content_type == "application/json":
            try:
                return json.loads(payload)
            except ValueError:
                return payload
        return payload


def totp_code(secret_b32, step):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


class Person:
    """A principal with a password, an enrolled TOTP secret and the last step it used."""

    def __init__(self, api, tenant, login):
        self.api, self.tenant, self.login = api, tenant, login
        self.secret = None
        self.last_step = -1
        self.token = None

    def code(self):
        # Each code is usable once: take the smallest step in the accepted window that is newer
        # than the last one used, waiting for the clock when the window is used up.
        while True:
            now = int(time.time()) // 30
            for step in (now - 1, now, now + 1):
                if step > self.last_step:
                    self.last_step = step
                    return totp_code(self.secret, step)
            time.sleep(1)

    def sign_in(self):
        body = {"username": self.login, "password": PASSWORD}
        if self.tenant:
            body["tenant"] = self.tenant
        r = self.api.call("POST", "/v1/auth/login", body=body)
        self.token = r["token"]
        if r.get("purpose") == "enroll_totp":
            e = self.api.call("POST", "/v1/auth/totp/enroll", self.token, {})
            self.secret = e["secret"]
            done = self.api.call("POST", "/v1/auth/totp/confirm", self.token, {"code": self.code()})
            # The enrolment session is replaced by a full one under a new token.
            self.token = done["session"]["token"]
        return self


def setup(api, custodian_count):
    """A tenant with a recording user and `custodian_count` security officers, appointed the way
    a real tenant appoints them: a second administrator (who created none of them) proposes each,
    after the officer set their own password; a provider operator approves the first two, the
    officers already appointed approve the rest."""
    op = Person(api, None, "admin").sign_in()
    api.call("POST", "/v1/tenants", op.token, {
        "slug": "crash", "display_name": "Crash campaign", "capabilities": {"encryption": True},
        "administrator": {"login": "boss", "first_name": "Bo", "last_name": "Ss", "password": PASSWORD},
    })
    boss = Person(api, "crash", "boss").sign_in()
    roles = {r["name"]: r["id"] for r in api.call("GET", "/v1/roles", boss.token)}
    rec = api.call("POST", "/v1/roles", boss.token, {"name": "recording_team", "privileges": [
        "interaction:create", "interaction:read", "interaction:listen"]})

    def user(login, role_id):
        u = api.call("POST", "/v1/users", boss.token, {"login": login, "first_name": "S", "last_name": login,
                                                        "password": FIRST_PASSWORD, "assignments": {}})
        api.call("POST", "/v1/grants", boss.token, {"grantee": {"kind": "user", "id": u["id"]},
                                                     "role_id": role_id, "scope": {"kind": "tenant"}})
        # Everyone sets their own password (an appointed custodian must have).
        t = api.call("POST", "/v1/auth/login", body={"tenant": "crash", "username": login,
                                                      "password": FIRST_PASSWORD})["token"]
        api.call("POST", "/v1/auth/password", t, {"current_password": FIRST_PASSWORD, "new_password": PASSWORD})
        return u["id"]

    rec_id = user("recorder", roles["agent"])
    api.call("POST", "/v1/grants", boss.token, {"grantee": {"kind": "user", "id": rec_id},
                                                 "role_id": rec["id"], "scope": {"kind": "tenant"}})
    recorder = Person(api, "crash", "recorder").sign_in()
    ada_id = user("ada", roles["agent"])
    api.call("POST", "/v1/grants", boss.token, {"grantee": {"kind": "user", "id": ada_id},
                                                 "role_id": roles["administrator"], "scope": {"kind": "tenant"}})
    ada = Person(api, "crash", "ada").sign_in()
    custodians = []
    for i in range(custodian_count):
        login = f"sec{i}"
        uid = user(login, roles["agent"])
        c = api.call("POST", "/v1/grants", ada.token, {"grantee": {"kind": "user", "id": uid},
                                                        "role_id": roles["security_officer"],
                                                        "scope": {"kind": "tenant"}}, ok=(202,))
        approver = op if len(custodians) < 2 else custodians[(i - 2) % len(custodians)]
        done = api.call("POST", f"/v1/key-ceremonies/{c['id']}/approve", approver.token,
                        {"password": PASSWORD, "totp": approver.code()})
        if done["state"] != "completed":
            sys.exit(f"appointing {login} did not complete: {done}")
        custodians.append(Person(api, "crash", login).sign_in())
    return recorder, custodians, boss


class Custody:
    """Rotates custodians so no one waits long for a fresh TOTP step; never the same pair member twice."""

    def __init__(self, api, custodians):
        self.api, self.custodians, self.turn = api, custodians, 0

    def ceremony(self, kind, params=None):
        a = self.custodians[self.turn % len(self.custodians)]
        b = self.custodians[(self.turn + 1) % len(self.custodians)]
        self.turn += 2
        c = self.api.call("POST", "/v1/key-ceremonies", a.token,
                          {"kind": kind, "params": params or {}, "password": PASSWORD, "totp": a.code()})
        done = self.api.call("POST", f"/v1/key-ceremonies/{c['id']}/approve", b.token,
                             {"password": PASSWORD, "totp": b.code()})
        if done["state"] != "completed":
            sys.exit(f"ceremony {kind} did not complete: {done}")
        return done["result"]


def ts(value):
    """Milliseconds of an RFC 3339 timestamp as the API renders them."""
    from datetime import datetime
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000


def job_of(result):
    if result.get("job"):
        return result["job"]
    jobs = result.get("jobs") or []
    return jobs[0] if jobs else None


def wait_done(api, token, job, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = api.call("GET", f"/v1/jobs/{job}", token)
        if j["state"] in ("done", "failed"):
            return j
        time.sleep(0.05)
    sys.exit(f"job {job} did not finish")


def verify(api, token, objects, expect_encrypted):
    bad = 0
    for oid, digest in objects.items():
        body = api.call("GET", f"/v1/objects/{oid}/content", token, raw=None, content_type="application/octet-stream")
        meta = api.call("GET", f"/v1/objects/{oid}", token)
        if hashlib.sha256(body).hexdigest() != digest:
            bad += 1
            print(f"  MISMATCH {oid}", flush=True)
        if (meta["key_version"] is not None) != expect_encrypted:
            bad += 1
            print(f"  WRONG STATE {oid}: key_version={meta['key_version']}", flush=True)
    return bad


def content_status(api, token, oid):
    req = urllib.request.Request(f"{api.server.base}/v1/objects/{oid}/content", method="GET")
    req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def purge_phase(api, server, rnd, args, recorder, boss, kept, summary):
    """Objects recorded 400 days ago under a 30-day policy are purged (10 per transaction, every
    second) while the server is SIGKILLed; afterwards each must answer 410 and every object within
    its retention must verify."""
    expired = {}
    for _ in range(max(args.objects * 4, 800)):
        data = rnd.randbytes(rnd.randrange(0, 4_000))
        o = json.loads(api.call("POST", f"/v1/objects?class=voice&size={len(data)}&recorded_at=2025-01-01T00:00:00Z",
                                recorder.token, raw=data, content_type="audio/wav"))
        expired[o["id"]] = hashlib.sha256(data).hexdigest()
    api.call("POST", "/v1/retention-policies", boss.token, {"category": "recordings", "days": 30})
    kills = during = 0
    while kills < args.kills:
        # Kill as soon as a purge run is seen in progress (after a random short wait), so every
        # kill lands inside a run; stop when nothing is left to purge.
        deadline = time.time() + 10
        running = False
        while time.time() < deadline:
            runs = api.call("GET", "/v1/retention-purges", boss.token)
            if any(r["finished_at"] is None for r in runs):
                running = True
                break
            if runs and all(r["finished_at"] for r in runs) and sum(r["objects"] for r in runs) >= len(expired):
                break
            time.sleep(0.01)
        if not running:
            break
        time.sleep(rnd.uniform(0.0, 0.05))
        server.kill()
        kills += 1
        during += 1
        server.start()
    failures = 0
    deadline = time.time() + 120
    left = dict(expired)
    while left and time.time() < deadline:
        for oid, digest in list(left.items()):
            status, body = content_status(api, recorder.token, oid)
            if status == 410:
                del left[oid]
            elif status != 200 or hashlib.sha256(body).hexdigest() != digest:
                # Not yet purged must still read whole: a row never outlives its content.
                print(f"  HALF-DELETED {oid}: {status}", flush=True)
                failures += 1
                del left[oid]
        if left:
            time.sleep(0.5)
    if left:
        print(f"  {len(left)} expired objects were never purged", flush=True)
        failures += len(left)
    failures += verify(api, recorder.token, kept, False)
    runs = api.call("GET", "/v1/retention-purges", boss.token)
    resumed = sum(r["resumed"] for r in runs)
    line = f"purge: {kills} kills ({during} while a purge run was open, {resumed} resumed), all {len(expired)} expired " \
           f"objects erased, all {len(kept)} kept objects verified" if not failures else f"purge: FAILURES: {failures}"
    print(line, flush=True)
    summary.append(line)
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=10, help="SIGKILLs per job kind (default 10)")
    ap.add_argument("--objects", type=int, default=200, help="objects to upload (default 200)")
    ap.add_argument("--max-size", type=int, default=300_000, help="largest object in bytes")
    ap.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "..", "target", "debug", "callvault"))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--s3", action="store_true", help="keep blobs on an S3 server (moto, started for the run)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rnd = random.Random(seed)
    where = "S3 (moto)" if args.s3 else "local files"
    print(f"crash campaign: seed {seed}, {args.kills} kills per job kind, {args.objects} objects, blobs on {where}",
          flush=True)
    work = tempfile.mkdtemp(prefix="cv-crash-")
    s3 = S3(work) if args.s3 else None
    server = Server(os.path.abspath(args.binary), work, s3.env() if s3 else None)
    started = time.time()
    try:
        server.start()
        api = Api(server)
        # Twelve custodians: each TOTP code is usable once, so ceremonies rotate through them.
        recorder, custodians, boss = setup(api, 12)
        custody = Custody(api, custodians)
        officer = custodians[0]
        objects = {}
        for i in range(args.objects):
            size = rnd.randrange(0, args.max_size)
            data = rnd.randbytes(size)
            o = api.call("POST", f"/v1/objects?class=voice&size={size}&consent=true", recorder.token, raw=data,
                         content_type="audio/wav")
            o = json.loads(o)
            objects[o["id"]] = hashlib.sha256(data).hexdigest()
        print(f"uploaded {len(objects)} objects ({time.time() - started:.1f}s)", flush=True)

        phases = [
            ("encrypt_all", [("enable_encryption", None)], True, "decrypt_all"),
            ("rewrap", [("new_key", None), ("rewrap", None)], True, None),
            ("reencrypt", [("reencrypt", None)], True, None),
            ("decrypt_all", [("decrypt_all", None)], False, "enable_encryption"),
        ]
        failures = 0
        summary = []
        for name, ceremonies, encrypted_after, reset in phases:
            kills = during = jobs = 0
            estimate = 0.2  # seconds a job of this kind takes; refined from each finished job
            while kills < args.kills:
                result = {}
                for kind, params in ceremonies:
                    result = custody.ceremony(kind, params)
                job = job_of(result)
                if job is None:
                    sys.exit(f"{name}: the ceremony started no job: {result}")
                jobs += 1
                # Kill at random moments within the expected run time of this job, restarting
                # each time, until it finishes or the kills are spent.
                while kills < args.kills:
                    time.sleep(rnd.uniform(0.0, estimate))
                    server.kill()
                    kills += 1
                    server.start()
                    j = api.call("GET", f"/v1/jobs/{job}", officer.token)
                    # Progress only grows: unfinished after the restart means the kill hit the job.
                    if j["objects_done"] < j["objects_total"] or j["state"] == "running":
                        during += 1
                    if j["state"] == "done":
                        break
                final = wait_done(api, officer.token, job)
                if final["state"] != "done" or final["failures"]:
                    print(f"  job {job}: {final}", flush=True)
                    failures += 1
                if final.get("finished_at") and final.get("created_at"):
                    estimate = max(0.02, min(5.0, (ts(final["finished_at"]) - ts(final["created_at"])) / 1000 * 0.8))
                bad = verify(api, recorder.token, objects, encrypted_after)
                failures += bad
                if kills < args.kills and reset:
                    # Bring objects back to the phase's starting state for another job of this kind.
                    r = custody.ceremony(reset)
                    if job_of(r):
                        wait_done(api, officer.token, job_of(r))
            line = f"{name}: {jobs} job(s), {kills} kills ({during} while the job was running), all {len(objects)} objects verified" \
                if not failures else f"{name}: FAILURES so far: {failures}"
            print(line, flush=True)
            summary.append(line)
        failures += purge_phase(api, server, rnd, args, recorder, boss, objects, summary)
        print(f"done in {time.time() - started:.1f}s, {server.starts} server starts", flush=True)
        if failures:
            print(f"FAILED: {failures} problems; work directory kept at {work}", flush=True)
            args.keep = True
            return 1
        return 0
    finally:
        server.stop()
        if s3:
            s3.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
