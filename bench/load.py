"""Load test of one reko node: N concurrent boto3 clients (SigV4-signed, as any SDK) send an operation for
M seconds against a `reko serve` this script starts itself, and the script reports throughput, p50/p99 of
the accepted requests, throttles, errors by type and the server's peak resident memory (VmHWM).

    python3 bench/load.py --reko-bin target/release/reko --models-dir target/test-models \
        --image ../shared/eval/deepface_unit/couple.jpg --clients 32 --seconds 60 [--retries standard]

`--retries none` (the default) makes one attempt per request, so every throttle is counted as one and the
client waits `--backoff` seconds before its next request; `--retries standard` lets boto3's standard retry
mode back off and retry throttles by itself (what an application would do). Only loopback addresses are
used. Figures go to BENCHMARKS.md by hand, with the command line.
"""
import argparse
import collections
import os
import pathlib
import statistics
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import reko_server


def rss_mib(pid: int, field: str) -> float:
    """A memory figure of /proc/PID/status in MiB: `VmRSS` (now) or `VmHWM` (peak)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reko-bin", required=True)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--image", required=True, type=pathlib.Path)
    parser.add_argument("--operation", default="DetectFaces", choices=["DetectFaces", "DetectLabels", "DetectText"])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--accounts", type=int, default=1,
                        help="clients are spread over this many accounts (keys in a credentials file)")
    parser.add_argument("--retries", choices=["none", "standard"], default="none")
    parser.add_argument("--backoff", type=float, default=0.5, help="seconds a client waits after a throttle")
    parser.add_argument("--server-arg", action="append", default=[], help="extra `reko serve` argument")
    args = parser.parse_args()

    image = args.image.read_bytes()
    data = tempfile.mkdtemp(prefix="reko-load-")
    env = dict(os.environ, REKO_LOG_FORMAT="json", RUST_LOG="warn")
    keys = [(f"AKIDLOAD{n:04d}", f"secret-{n}", f"{100000000000 + n}") for n in range(args.accounts)]
    credentials = reko_server.write_credentials(pathlib.Path(data) / "credentials.toml", keys)
    try:
        server, port = reko_server.start(args.reko_bin, args.models_dir, f"{data}/data", credentials,
                                         args.server_arg, env=env)
    except RuntimeError:
        print("the server did not come up", file=sys.stderr)
        return 1
    endpoint = f"http://127.0.0.1:{port}"
    try:
        attempts = 1 if args.retries == "none" else 5
        config = Config(retries={"mode": "standard", "max_attempts": attempts}, max_pool_connections=4,
                        read_timeout=300, connect_timeout=10)

        def client(n=0):
            key, secret, _ = keys[n % len(keys)]
            return boto3.client("rekognition", endpoint_url=endpoint, region_name="us-east-1",
                                aws_access_key_id=key, aws_secret_access_key=secret, config=config)

        # One warm-up request (models load lazily, sessions are built on first use).
        warm = client()
        call = {"DetectFaces": lambda c: c.detect_faces(Image={"Bytes": image}),
                "DetectLabels": lambda c: c.detect_labels(Image={"Bytes": image}),
                "DetectText": lambda c: c.detect_text(Image={"Bytes": image})}[args.operation]
        call(warm)
        rss_after_warmup = rss_mib(server.pid, "VmRSS")

        latencies, errors, lock = [], collections.Counter(), threading.Lock()
        retried = collections.Counter()
        stop = time.monotonic() + args.seconds

        def worker(n):
            rek = client(n)
            while time.monotonic() < stop:
                started = time.monotonic()
                try:
                    response = call(rek)
                    elapsed = time.monotonic() - started
                    with lock:
                        latencies.append(elapsed)
                        retried[response["ResponseMetadata"].get("RetryAttempts", 0)] += 1
                except ClientError as e:
                    code = e.response["Error"]["Code"]
                    with lock:
                        errors[code] += 1
                    if code in ("ThrottlingException", "ProvisionedThroughputExceededException",
                                "ServiceUnavailableException"):
                        time.sleep(args.backoff)
                except Exception as e:  # connection errors and the like
                    with lock:
                        errors[type(e).__name__] += 1
                    time.sleep(args.backoff)

        started = time.monotonic()
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.clients)]
        for t in threads:
            t.start()
        rss_samples = []
        while any(t.is_alive() for t in threads):
            rss_samples.append(rss_mib(server.pid, "VmRSS"))
            time.sleep(0.5)
        wall = time.monotonic() - started
        peak = rss_mib(server.pid, "VmHWM")

        print(f"## {args.operation}, {args.clients} clients over {args.accounts} account(s), {args.seconds:.0f} s, "
              f"retries {args.retries}")
        print()
        print(f"- command: `{' '.join(sys.argv)}`")
        print(f"- image: {args.image.name} ({len(image)} bytes); cores: {os.cpu_count()}")
        print(f"- accepted: {len(latencies)} in {wall:.1f} s = {len(latencies) / wall:.2f} req/s")
        if latencies:
            print(f"- latency of accepted requests: p50 {statistics.median(latencies) * 1000:.0f} ms, "
                  f"p99 {percentile(latencies, 99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
        print(f"- errors by type: {dict(errors) if errors else 'none'}")
        if args.retries == "standard":
            print(f"- accepted requests by retry attempts: {dict(sorted(retried.items()))}")
        print(f"- server memory: {rss_after_warmup:.0f} MiB after warm-up, "
              f"{max(rss_samples, default=float('nan')):.0f} MiB at most under load (sampled), "
              f"peak {peak:.0f} MiB (VmHWM)")
        return 0
    finally:
        reko_server.stop(server)


if __name__ == "__main__":
    sys.exit(main())
