#!/usr/bin/env python3
"""Object storage over HTTP, against a real release server:

1. a large recording (default 1 GiB) uploaded and downloaded through the API with curl,
   encrypted on the way in and decrypted on the way out, with the server's peak RSS
   (VmHWM, target <= 64 MiB) — nothing is held whole in memory;
2. a 1 MiB ranged read from the middle of it (only the touched segments are decrypted);
3. small uploads (1 KiB chat messages) per second from concurrent clients, on an encrypting
   tenant and side by side on a tenant that stores plain (encryption stopped), in one run.

    cargo build --release -p callvault && scripts/bench-objects.py [--mib 1024] [--seconds 10]
"""

import argparse
import concurrent.futures
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("crash", os.path.join(HERE, "crash-campaign.py"))
crash = importlib.util.module_from_spec(spec)
spec.loader.exec_module(crash)


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # MiB
    return 0.0


def curl(args):
    out = subprocess.run(["curl", "-sS", "--fail-with-body", *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"curl failed: {out.stderr} {out.stdout[:300]}")
    return out.stdout


def small_uploads(api, token, seconds, workers=16):
    body = os.urandom(1024)
    deadline = time.time() + seconds
    count = [0]

    def worker():
        n = 0
        while time.time() < deadline:
            api.call("POST", "/v1/objects?class=chat&size=1024", token, raw=body, content_type="text/plain")
            n += 1
        return n

    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        total = sum(f.result() for f in [pool.submit(worker) for _ in range(workers)])
    return total / (time.time() - started)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "callvault"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="cv-bench-objects-")
    server = crash.Server(os.path.abspath(args.binary), work)
    try:
        server.start()
        pid = server.proc.pid
        api = crash.Api(server)
        _, custodians, boss = crash.setup(api, 2)
        custody = crash.Custody(api, custodians)
        custody.ceremony("enable_encryption")
        idle = vm(pid, "VmRSS")
        size = args.mib * 1024 * 1024
        path = os.path.join(work, "recording.bin")
        sha = hashlib.sha256()
        with open(path, "wb") as f:
            block = os.urandom(4 * 1024 * 1024)
            for _ in range(args.mib // 4):
                f.write(block)
                sha.update(block)
        digest = sha.hexdigest()
        url = server.base
        auth = ["-H", f"Authorization: Bearer {boss.token}"]
        t = time.time()
        out = curl([*auth, "-X", "POST", "-H", "Content-Type: audio/wav", "-T", path,
                    f"{url}/v1/objects?class=voice&size={size}&sha256={digest}"])
        up = time.time() - t
        obj = json.loads(out)
        assert obj["key_version"] == 1 and obj["sha256"] == digest, obj
        blob_dir = os.path.join(work, "data", "blobs")
        files = [os.path.join(r, n) for r, _, ns in os.walk(blob_dir) for n in ns]
        on_disk = max(os.path.getsize(f) for f in files)
        t = time.time()
        out_path = os.path.join(work, "download.bin")
        curl([*auth, "-o", out_path, f"{url}/v1/objects/{obj['id']}/content"])
        down = time.time() - t
        h = hashlib.sha256()
        with open(out_path, "rb") as f:
            while chunk := f.read(8 * 1024 * 1024):
                h.update(chunk)
        assert h.hexdigest() == digest, "download differs"
        os.remove(out_path)
        mid = size // 2
        t = time.time()
        part = curl([*auth, "-o", os.devnull, "-w", "%{size_download}", "-r", f"{mid}-{mid + 1024 * 1024 - 1}", f"{url}/v1/objects/{obj['id']}/content"])
        ranged = time.time() - t
        assert int(part) == 1024 * 1024, part
        peak = vm(pid, "VmHWM")
        print(f"machine: {os.cpu_count()} cores; object {args.mib} MiB, blob on disk {on_disk} bytes (ciphertext)")
        print(f"  upload (encrypt, fsync)   : {size / up / 1e6:8.0f} MB/s  ({up:.1f} s)")
        print(f"  download (decrypt)        : {size / down / 1e6:8.0f} MB/s  ({down:.1f} s), SHA-256 verified")
        print(f"  1 MiB range at the middle : {ranged * 1000:8.1f} ms")
        print(f"  server RSS idle {idle:.1f} MiB, peak (VmHWM) {peak:.1f} MiB  (target <= 64 MiB)")
        enc = small_uploads(api, boss.token, args.seconds)
        custody.ceremony("stop_encrypting")
        plain = small_uploads(api, boss.token, args.seconds)
        print(f"  1 KiB uploads, 16 clients : {enc:8.0f}/s encrypted   vs {plain:8.0f}/s plain (same server, same run)")
        print(f"  server peak RSS after the small uploads: {vm(pid, 'VmHWM'):.1f} MiB")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
