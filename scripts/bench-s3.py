#!/usr/bin/env python3
"""A large recording through callvault to an S3 server, beside boto3 talking to the same server.

Starts moto (in server mode) and a release `callvault serve` with `blob_store = "s3"` and
encryption on, then in one run:

- uploads a file of `--mib` MiB of random bytes through `POST /v1/objects` (curl, streamed) and
  downloads it again through `GET /v1/objects/{id}/content`, checking its SHA-256;
- uploads and downloads the same file with boto3's `upload_file` / `download_file` (its default
  transfer settings: 8 MiB multipart parts, 10 threads) straight to moto;
- prints the rates side by side and callvault's peak resident memory (VmHWM).

    scripts/bench-s3.py --mib 1024        # the hand run recorded in BENCHMARKS.md
    scripts/bench-s3.py --mib 64          # a quick check

Needs moto and boto3 (`pip install 'moto[server]' boto3`) and curl.
"""

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("crash_campaign", os.path.join(HERE, "crash-campaign.py"))
cc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cc)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def curl(args):
    started = time.perf_counter()
    subprocess.run(["curl", "-sS", "--fail", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "callvault"))
    args = ap.parse_args()
    import boto3
    from botocore.config import Config

    work = tempfile.mkdtemp(prefix="cv-bench-s3-")
    s3 = cc.S3(work)
    server = cc.Server(os.path.abspath(args.binary), work, {**s3.env(), "CALLVAULT_LOG_LEVEL": "warn"})
    try:
        server.start()
        api = cc.Api(server)
        recorder, custodians, _ = cc.setup(api, 2)
        cc.Custody(api, custodians).ceremony("enable_encryption")
        size = args.mib << 20
        src = os.path.join(work, "recording.bin")
        with open(src, "wb") as f:
            for _ in range(args.mib):
                f.write(os.urandom(1 << 20))
        digest = sha256_file(src)
        mb = size / 1e6
        auth = ["-H", f"Authorization: Bearer {recorder.token}"]
        out = os.path.join(work, "out.bin")
        # callvault: one streamed POST, one GET.
        meta = os.path.join(work, "meta.json")
        up = curl([*auth, "-X", "POST", "-H", "Content-Type: audio/wav", "-T", src, "-o", meta,
                   f"{server.base}/v1/objects?class=voice&consent=true&size={size}&sha256={digest}"])
        with open(meta) as f:
            oid = json.load(f)["id"]
        down = curl([*auth, "-o", out, f"{server.base}/v1/objects/{oid}/content"])
        if sha256_file(out) != digest:
            sys.exit("the downloaded content differs")
        rss = peak_rss_mib(server.proc.pid)
        # boto3 straight to the same moto.
        client = boto3.client("s3", endpoint_url=s3.endpoint, aws_access_key_id="bench",
                              aws_secret_access_key="bench", region_name="us-east-1",
                              config=Config(s3={"addressing_style": "path"}))
        started = time.perf_counter()
        client.upload_file(src, s3.bucket, "boto3/recording.bin")
        b_up = time.perf_counter() - started
        os.remove(out)
        started = time.perf_counter()
        client.download_file(s3.bucket, "boto3/recording.bin", out)
        b_down = time.perf_counter() - started
        if sha256_file(out) != digest:
            sys.exit("boto3's download differs")
        print(f"{args.mib} MiB recording, moto in server mode on loopback, encryption on for callvault")
        print(f"{'':26}{'upload':>18}{'download':>18}")
        print(f"{'callvault (curl, HTTP)':26}{up:8.2f} s {mb / up:6.1f} MB/s{down:8.2f} s {mb / down:6.1f} MB/s")
        print(f"{'boto3 -> moto directly':26}{b_up:8.2f} s {mb / b_up:6.1f} MB/s{b_down:8.2f} s {mb / b_down:6.1f} MB/s")
        print(f"callvault peak RSS (VmHWM) after both transfers: {rss:.1f} MiB")
        return 0
    finally:
        server.stop()
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
