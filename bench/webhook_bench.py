"""Webhook service figures.

    python bench/webhook_bench.py burst [--events 2000] [--concurrency 16] [--redis URL]
        events/s accepted by a real `faktory serve --no-workers` (dedupe on: 25% replays, 10% repeated pushes)
    python bench/webhook_bench.py e2e [--image faktory-fixture/flask:latest] [--workers 2]
        seconds from `skopeo copy` into a registry with a notifications endpoint to the converted image
        being pullable under the rule's name

Everything runs on 127.0.0.1; nothing is left running afterwards.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.services import start_registry  # noqa: E402
from tests.test_service_helpers import AUTH, Server, endpoint, free_port, skopeo_copy, wait_for  # noqa: E402

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _event(event_id: str, n: int) -> dict:
    digest = "sha256:" + f"{n:064x}"
    return {"id": event_id, "action": "push", "target": {
        "mediaType": MANIFEST, "digest": digest, "size": 1, "repository": f"bench/a{n % 13}", "tag": f"t{n}",
        "url": f"http://127.0.0.1:5999/v2/bench/a{n % 13}/manifests/{digest}"}}


def burst(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="faktory-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "rules.yaml").write_text('rules:\n  - repository: "bench/*"\n    targets: [oci]\n')
        extra = ["--no-workers", "--rules", str(tmp / "rules.yaml"), "--log-level", "warning"]
        queue_name = f"faktory-bench-{int(time.time())}"
        if args.redis:
            extra += ["--redis", args.redis, "--queue-name", queue_name]
        server = Server(tmp, *extra)
        try:
            unique = int(args.events * 0.65)
            bodies = [_event(f"e{n}", n) for n in range(unique)]
            bodies += [_event(f"e{n}", n) for n in range(int(args.events * 0.25))]  # replays
            bodies += [_event(f"x{n}", n) for n in range(args.events - len(bodies))]  # same push, new id
            # A lean client (one keep-alive http.client connection per thread): the sender shares the 2 cores
            # with the server, and a heavier client would measure itself.
            local = threading.local()
            headers = {**AUTH, "Content-Type": "application/vnd.docker.distribution.events.v2+json"}

            def send(ev):
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                conn.request("POST", "/hooks/distribution", body=json.dumps({"events": [ev]}), headers=headers)
                response = conn.getresponse()
                response.read()
                return response.status

            started = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                codes = list(pool.map(send, bodies))
            seconds = time.perf_counter() - started
            jobs = int(server.metric("faktory_jobs", state="queued"))
            return {"mode": "burst", "store": "redis" if args.redis else "sqlite", "events": len(bodies),
                    "concurrency": args.concurrency, "seconds": round(seconds, 2),
                    "events_per_second": round(len(bodies) / seconds, 1),
                    "all_202": codes.count(202) == len(codes), "jobs_created": jobs, "unique_pushes": unique}
        finally:
            server.stop()
            if args.redis:
                import redis

                client = redis.Redis.from_url(args.redis)
                huey_name = re.sub("[^a-z0-9]", "", queue_name)  # how huey spells it in its keys
                for pattern in (f"{queue_name}:*", f"huey.*{huey_name}"):
                    for key in client.scan_iter(match=pattern):
                        client.delete(key)


def e2e(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="faktory-bench-") as tmp:
        tmp = Path(tmp)
        port, reg_port = free_port(), free_port()
        (tmp / "rules.yaml").write_text('rules:\n  - repository: "bench/*"\n    targets: [oci]\n')
        hook = endpoint("faktory", f"http://127.0.0.1:{port}/hooks/distribution", AUTH)
        registry = start_registry(reg_port, tmp / "registry", notifications=[hook])
        server = None
        try:
            server = Server(tmp, "--rules", str(tmp / "rules.yaml"), "--workers", str(args.workers), port=port)
            times = []
            for i in range(args.repeat):
                tag = f"run{i}"
                started = time.perf_counter()
                skopeo_copy(f"docker-daemon:{args.image}", f"{registry.addr}/bench/app:{tag}")
                pushed = time.perf_counter()
                dest = f"{registry.addr}/bench/app:{tag}-oci"
                wait_for(lambda: subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                                                 f"docker://{dest}"], capture_output=True).returncode == 0,
                         600, dest, interval=0.5)
                done = time.perf_counter()
                times.append({"push_s": round(pushed - started, 2), "push_to_converted_s": round(done - pushed, 2)})
            return {"mode": "e2e", "image": args.image, "workers": args.workers, "runs": times,
                    "median_push_to_converted_s": statistics.median(t["push_to_converted_s"] for t in times)}
        finally:
            if server:
                server.stop()
            registry.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    b = sub.add_parser("burst")
    b.add_argument("--events", type=int, default=2000)
    b.add_argument("--concurrency", type=int, default=16)
    b.add_argument("--redis")
    e = sub.add_parser("e2e")
    e.add_argument("--image", default="faktory-fixture/flask:latest")
    e.add_argument("--workers", type=int, default=2)
    e.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(burst(args) if args.mode == "burst" else e2e(args), indent=2))


if __name__ == "__main__":
    main()
