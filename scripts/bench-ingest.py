#!/usr/bin/env python3
"""Ingest of small objects (1 KiB chat transcripts) over HTTP, against a real release server:
wrk with 64 keep-alive HTTP/1.1 connections, one 1 KiB object per request (POST /v1/objects),
each stored encrypted with its own audit entry and answered only when durable. Side by side in
one run, per database: group commit (the default: objects up to `small_object_max_bytes` are
kept sealed in their row and share one transaction) and the one-fsync-per-object path
(`small_object_max_bytes = 0`: a blob file with its fsync and a commit per object).

After each run the server is stopped and the database is read: every 201 must have its object
row and its `object.create` audit entry (rows may exceed the 201s by the requests in flight when
wrk stopped counting, never fall short).

    cargo build --release -p callvault && scripts/bench-ingest.py [--seconds 10] [--connections 64]
        [--postgres postgres://postgres@127.0.0.1:5432/test] [--only sqlite|postgres] [--modes group,fsync]
"""

import argparse
import importlib.util
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("crash", os.path.join(HERE, "crash-campaign.py"))
crash = importlib.util.module_from_spec(spec)
spec.loader.exec_module(crash)

LUA = r"""
wrk.method = "POST"
wrk.path = "/v1/objects?class=chat&size=1024"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("CV_TOKEN")
wrk.headers["Content-Type"] = "text/plain; charset=utf-8"
local line = "agent: thank you for calling, how can I help you today? customer: my order did not arrive.\n"
wrk.body = string.sub(string.rep(line, 12), 1, 1024)
"""


def psql(url, sql):
    out = subprocess.run(["psql", "-qAt", url, "-c", sql], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"psql failed: {out.stderr}")
    return out.stdout.strip()


def run(args, backend, mode, lua_path):
    work = tempfile.mkdtemp(prefix=f"cv-bench-ingest-{backend}-")
    env = {"CALLVAULT_SMALL_OBJECT_MAX_BYTES": "0"} if mode == "fsync" else {}
    db = None
    if backend == "postgres":
        db = f"cv_ingest_{os.getpid()}"
        psql(args.postgres, f"DROP DATABASE IF EXISTS {db}")
        psql(args.postgres, f"CREATE DATABASE {db}")
        parsed = urllib.parse.urlsplit(args.postgres)
        db_url = urllib.parse.urlunsplit(parsed._replace(path="/" + db))
        env["CALLVAULT_DATABASE_URL"] = db_url
    server = crash.Server(os.path.abspath(args.binary), work, env)
    try:
        server.start()
        api = crash.Api(server)
        recorder, custodians, _ = crash.setup(api, 2)
        crash.Custody(api, custodians).ceremony("enable_encryption")
        wrk = subprocess.run(
            ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.seconds}s", "--latency",
             "-s", lua_path, server.base],
            capture_output=True, text=True, env={**os.environ, "CV_TOKEN": recorder.token})
        if wrk.returncode != 0:
            sys.exit(f"wrk failed: {wrk.stderr}")
        out = wrk.stdout
        total = int(re.search(r"(\d+) requests in", out).group(1))
        non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
        errors = re.search(r"Socket errors: .*", out)
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        lat = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", out))
        server.stop()
        if backend == "postgres":
            objects = int(psql(env["CALLVAULT_DATABASE_URL"], "SELECT count(*) FROM op_object"))
            audited = int(psql(env["CALLVAULT_DATABASE_URL"],
                               "SELECT count(*) FROM aud_entry WHERE action = 'object.create'"))
        else:
            con = sqlite3.connect(os.path.join(work, "data", "callvault.db"))
            objects = con.execute("SELECT count(*) FROM op_object").fetchone()[0]
            audited = con.execute("SELECT count(*) FROM aud_entry WHERE action = 'object.create'").fetchone()[0]
            con.close()
        # The audit log must verify from its first entry to its last: every leaf in order.
        verify = subprocess.run(
            [os.path.abspath(args.binary), "audit", "verify", "--data-dir", os.path.join(work, "data")],
            capture_output=True, text=True,
            env={**os.environ, "CALLVAULT_KEK_FILE": os.path.join(work, "secrets", "kek"), **env})
        if verify.returncode != 0:
            sys.exit(f"{backend}/{mode}: the audit log does not verify: {verify.stdout}{verify.stderr}")
        print(f"  ({backend}/{mode} audit log: {verify.stdout.strip().splitlines()[0] if verify.stdout.strip() else 'verified'})")
        ok = total - non2xx
        if non2xx or errors:
            print(out)
        if objects < ok or audited < objects:
            sys.exit(f"{backend}/{mode}: {ok} answered 201 but {objects} objects and {audited} audit entries stored")
        return rate, ok, non2xx, objects, audited, lat.get("50", "?"), lat.get("99", "?")
    finally:
        server.stop()
        if args.keep:
            print(f"  (kept {work}: the server's data and log)")
        else:
            shutil.rmtree(work, ignore_errors=True)
        if db:
            psql(args.postgres, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (the client shares the 2 cores)")
    ap.add_argument("--postgres", default=os.environ.get("CALLVAULT_POSTGRES_TEST_URL",
                                                         "postgres://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    ap.add_argument("--modes", default="group,fsync")
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "callvault"))
    ap.add_argument("--keep", action="store_true", help="keep each run's data directory and server log")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    backends = [args.only] if args.only else ["sqlite", "postgres"]
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write(LUA)
    lua.close()
    print(f"machine: {os.cpu_count()} cores; wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, "
          f"1 KiB chat transcripts, encrypted, one audit entry each")
    try:
        for backend in backends:
            for mode in args.modes.split(","):
                rate, ok, bad, objects, audited, p50, p99 = run(args, backend, mode, lua.name)
                label = "group commit" if mode == "group" else "one fsync per object"
                print(f"  {backend:8} {label:22}: {rate:9.0f} objects/s durable  (201: {ok}, other: {bad}; "
                      f"stored {objects}, audited {audited}; latency p50 {p50}, p99 {p99})", flush=True)
    finally:
        os.unlink(lua.name)


if __name__ == "__main__":
    main()
