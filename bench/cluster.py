"""Throughput of 1, 2 and 3 reko nodes on one PostgreSQL: the script starts a throwaway PostgreSQL
(scripts/postgres) and the nodes itself, then C boto3 clients spread round-robin over the nodes (as a load
balancer would) run IndexFaces, then SearchFacesByImage, for S seconds each, against a fresh database per
node count. It reports requests/s, p50/p99 latency, and each node's CPU use (from /proc: user + system
seconds per second of wall time; 2.0 is both cores of a 2-core machine).

    python3 bench/cluster.py --reko-bin target/debug/reko --models-dir target/test-models \
        --faces ../shared/eval/deepface_unit --nodes 1 2 3 --clients 6 --seconds 30

Only loopback addresses are used. Figures go to BENCHMARKS.md by hand, with the command line.
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config

import reko_server

ROOT = pathlib.Path(__file__).resolve().parents[1]
KEY = ("AKIDCLUSTERBENCH", "cluster-bench-secret", "123456789012")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def start_node(args, work: pathlib.Path, n: int, url: str, credentials: pathlib.Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REKO_")}
    return reko_server.start(args.reko_bin, args.models_dir, work / f"node{n}", credentials, ["--database-url", url],
                             env=env, log=work / f"node{n}.log", timeout=120)


def run_phase(ports, images, clients: int, seconds: float, operation: str):
    latencies, errors = [], []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client_loop(c: int):
        rek = {port: boto3.client("rekognition", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                                  aws_access_key_id=KEY[0], aws_secret_access_key=KEY[1],
                                  config=Config(retries={"max_attempts": 1}, read_timeout=300)) for port in ports}
        n = c
        while time.monotonic() < stop:
            port = ports[n % len(ports)]
            image = {"Bytes": images[n % len(images)]}
            started = time.monotonic()
            try:
                if operation == "IndexFaces":
                    rek[port].index_faces(CollectionId="bench", Image=image, ExternalImageId=f"c{c}-{n}", MaxFaces=1)
                else:
                    rek[port].search_faces_by_image(CollectionId="bench", Image=image, FaceMatchThreshold=80)
                with lock:
                    latencies.append(time.monotonic() - started)
            except Exception as error:  # noqa: BLE001 (counted and shown)
                with lock:
                    errors.append(type(error).__name__ + ": " + str(error)[:120])
            n += clients

    threads = [threading.Thread(target=client_loop, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reko-bin", required=True)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--faces", required=True, type=pathlib.Path, help="a folder of face photos (*.jpg)")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    images = [p.read_bytes() for p in sorted(args.faces.glob("*.jpg"))[:40]]
    pg_dir = pathlib.Path(tempfile.mkdtemp(prefix="reko-bench-pg-"))
    admin = subprocess.run([str(ROOT / "scripts" / "postgres"), "start", str(pg_dir), str(reko_server.free_port())],
                           check=True, capture_output=True, text=True).stdout.strip()
    base = admin.rpartition("/")[0]
    rows = []
    try:
        for count in args.nodes:
            name = f"bench_{count}_{int(time.time())}"
            subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
            with tempfile.TemporaryDirectory() as work:
                work = pathlib.Path(work)
                credentials = reko_server.write_credentials(work / "keys.toml", [KEY])
                nodes = [start_node(args, work, n, f"{base}/{name}", credentials) for n in range(count)]
                try:
                    ports = [port for _, port in nodes]
                    boto3.client("rekognition", endpoint_url=f"http://127.0.0.1:{ports[0]}", region_name="us-east-1",
                                 aws_access_key_id=KEY[0], aws_secret_access_key=KEY[1]).create_collection(
                        CollectionId="bench")
                    for operation in ("IndexFaces", "SearchFacesByImage"):
                        cpu = [cpu_seconds(proc.pid) for proc, _ in nodes]
                        started = time.monotonic()
                        latencies, errors = run_phase(ports, images, args.clients, args.seconds, operation)
                        wall = time.monotonic() - started
                        used = [(cpu_seconds(proc.pid) - c) / wall for (proc, _), c in zip(nodes, cpu)]
                        rows.append((count, operation, len(latencies) / wall, percentile(latencies, 50) * 1000,
                                     percentile(latencies, 99) * 1000, used, len(errors), errors[:3]))
                        print(rows[-1], file=sys.stderr, flush=True)
                finally:
                    for proc, _ in nodes:
                        reko_server.stop(proc)
    finally:
        subprocess.run([str(ROOT / "scripts" / "postgres"), "stop", str(pg_dir)], check=False)
        subprocess.run(["rm", "-rf", str(pg_dir)], check=False)

    print(f"| nodes | operation | requests/s | p50 ms | p99 ms | CPU per node (cores) | errors |")
    print("|---|---|---|---|---|---|---|")
    for count, operation, rate, p50, p99, used, errors, _ in rows:
        print(f"| {count} | {operation} | {rate:.2f} | {p50:.0f} | {p99:.0f} | "
              f"{', '.join(f'{u:.2f}' for u in used)} | {errors} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
