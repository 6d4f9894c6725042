"""`nmt serve` under load: concurrent clients against the server, with and without batching,
against offline translation of the same sentences.

For each variant (fp32; `--int8 --shortlist`) it starts `nmt serve` in a subprocess on
127.0.0.1 (loopback only), then for C = 1, 8, 32, 128 concurrent clients, each sending one
sentence a request over a kept-alive connection, sends `--requests` sentences of test2016 (beam
5; each run also stops after `--max-seconds`) and records sentences/s and p50/p95/p99 latency.
The same with `--no-batching`; then an overload run: C = 128 against a server with a small
queue (`--overload-queue`), three rounds, every request answered (200 or 503, counted), and the
server's RSS before and after. Offline, `Translator.translate` of the same sentences at batch
32 in this process (no server running) is the throughput to compare with.

    python benchmarks/serve_load.py runs/r21-seed1234/export --out benchmarks/results/2026-12-06/serve_load.json

`--litserve` adds the same load against a LitServe server over the same Translator
(`benchmarks/litserve_app.py`, request-count batching), for the choice of serving library.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_DATA = os.environ.get("NMT_DATA_DIR", "../shared/data/multi30k")
CONCURRENCY = (1, 8, 32, 128)


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its children (the server's decoding process), in MB."""
    total = 0
    for process in [str(pid)] + Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return round(total / 1024, 1)


class ServerProcess:
    """`nmt serve` (or another command printing its URL) in a subprocess on a free loopback port."""

    def __init__(self, command: list[str], ready_path: str = "/ready", startup_s: float = 120.0):
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=REPO,
                                        start_new_session=True)  # its own process group: workers stop with it
        deadline = time.monotonic() + startup_s
        self.url = None
        while self.url is None:
            line = self.process.stdout.readline()
            if not line or time.monotonic() > deadline:
                self.process.kill()
                raise SystemExit(f"server did not start: {' '.join(command)}\n{self.process.stderr.read()}")
            if "listening on " in line:
                self.url = line.split("listening on ")[1].split()[0]
        host, port = self.url.removeprefix("http://").split(":")
        assert host in ("127.0.0.1", "localhost"), "load is sent to loopback only"
        self.host, self.port = host, int(port)

    def stop(self) -> int:
        """SIGTERM, and the exit status; then anything left in its process group is killed."""
        self.process.terminate()
        try:
            return self.process.wait(60)
        finally:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def load(host: str, port: int, path: str, bodies: list[bytes], clients: int, max_seconds: float) -> dict:
    """`clients` threads, one connection each, send `bodies` one at a time until all are sent or
    `max_seconds` pass; every answer's status and latency is recorded."""
    next_index = iter(range(len(bodies)))
    lock = threading.Lock()
    latencies, statuses = [], {}
    deadline = time.monotonic() + max_seconds
    start = threading.Barrier(clients + 1)

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=120)
        start.wait()
        while time.monotonic() < deadline:
            with lock:
                index = next(next_index, None)
            if index is None:
                break
            sent = time.perf_counter()
            try:
                connection.request("POST", path, body=bodies[index], headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as err:
                status = type(err).__name__
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=120)
            elapsed = time.perf_counter() - sent
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    latencies.append(elapsed)
            if status == 503:  # what Retry-After asks, shortened so the run stays bounded
                time.sleep(0.05)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    ok = statuses.get(200, 0)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
    return {"clients": clients, "requests": sum(statuses.values()), "statuses": {str(k): v for k, v in statuses.items()},
            "seconds": round(seconds, 2), "sentences_per_s": round(ok / seconds, 1),
            "p50_ms": round(quantiles[49] * 1000, 1), "p95_ms": round(quantiles[94] * 1000, 1),
            "p99_ms": round(quantiles[98] * 1000, 1)}


def offline(model_dir: Path, sentences: list[str], beam: int, options: dict) -> dict:
    import torch

    from nmt.decoding.translator import Translator

    translator = Translator.load(model_dir, batch_size=32, **options)
    config = translator.search_config.model_copy(update={"beam_size": beam, "nbest": 1})
    translator.translate(sentences[:64], config)  # warm-up
    best = None
    for _ in range(2):
        started = time.perf_counter()
        translator.translate(sentences, config)
        seconds = time.perf_counter() - started
        best = seconds if best is None else min(best, seconds)
    return {"batch_size": 32, "threads": torch.get_num_threads(), "seconds": round(best, 2),
            "sentences_per_s": round(len(sentences) / best, 1)}


def serve_command(model_dir: Path, flags: list[str]) -> list[str]:
    return [sys.executable, "-m", "nmt", "serve", str(model_dir), "--port", "0", *flags]


def run_variant(name: str, model_dir: Path, sentences: list[str], args, options: dict, flags: list[str]) -> dict:
    bodies = [json.dumps({"sentences": [s], "beam_size": args.beam}).encode() for s in sentences]
    warm = bodies[: 2 * max(CONCURRENCY)]
    result = {}
    if not args.overload_only:
        result["offline"] = offline(model_dir, sentences, args.beam, options)
        print(f"[{name}] offline batch 32: {result['offline']['sentences_per_s']} sentences/s", flush=True)
    for mode, extra in () if args.overload_only else (("batched", []), ("unbatched", ["--no-batching"])):
        server = ServerProcess(serve_command(model_dir, flags + extra))
        load(server.host, server.port, "/v1/translate", warm[:64], 8, 60)  # warm-up
        runs = []
        for clients in args.concurrency:
            run = load(server.host, server.port, "/v1/translate", bodies, clients, args.max_seconds)
            stats = json.loads(_get(server, "/v1/stats"))
            run["mean_batch"] = stats["mean_batch"]
            runs.append(run)
            print(f"[{name} {mode}] C={clients}: {run['sentences_per_s']} sentences/s, p50 {run['p50_ms']} ms, "
                  f"p95 {run['p95_ms']} ms, p99 {run['p99_ms']} ms, statuses {run['statuses']}", flush=True)
        result[mode] = runs
        result[mode + "_exit_status"] = server.stop()
    server = ServerProcess(serve_command(model_dir, flags + ["--max-queue", str(args.overload_queue)]))
    load(server.host, server.port, "/v1/translate", warm[:64], 8, 60)
    rss = [rss_mb(server.process.pid)]
    rounds = []
    for _ in range(3):
        rounds.append(load(server.host, server.port, "/v1/translate", bodies, 128, args.max_seconds))
        rss.append(rss_mb(server.process.pid))
    result["overload"] = {"max_queue": args.overload_queue, "rounds": rounds, "rss_mb_with_children": rss,
                          "exit_status": server.stop()}
    print(f"[{name} overload, queue {args.overload_queue}] statuses {[r['statuses'] for r in rounds]}, "
          f"RSS MB {rss}", flush=True)
    return result


def run_litserve(model_dir: Path, sentences: list[str], args) -> dict:
    bodies = [json.dumps({"sentence": s, "beam_size": args.beam}).encode() for s in sentences]
    server = ServerProcess([sys.executable, str(REPO / "benchmarks" / "litserve_app.py"), str(model_dir),
                            "--max-batch-size", "32", "--batch-timeout", str(args.litserve_timeout)])
    load(server.host, server.port, "/predict", bodies[:64], 8, 60)
    runs = []
    for clients in args.concurrency:
        run = load(server.host, server.port, "/predict", bodies, clients, args.max_seconds)
        runs.append(run)
        print(f"[litserve] C={clients}: {run['sentences_per_s']} sentences/s, p50 {run['p50_ms']} ms, "
              f"p95 {run['p95_ms']} ms, statuses {run['statuses']}", flush=True)
    server.stop()
    return {"max_batch_size": 32, "batch_timeout_s": args.litserve_timeout, "runs": runs}


def _get(server: ServerProcess, path: str) -> str:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    connection.request("GET", path)
    return connection.getresponse().read().decode()


def main() -> None:
    from nmt.training.precision import cpu_capability

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="an exported model (the Multi30k recipe's runs/<name>/export)")
    parser.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA), help="Multi30k folder (default: %(default)s)")
    parser.add_argument("--src", default="de")
    parser.add_argument("--requests", type=int, default=1000, help="sentences (requests) per run, from test2016")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="each run stops after this long")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCY))
    parser.add_argument("--overload-queue", type=int, default=32, help="max_queue of the overload run")
    parser.add_argument("--variants", nargs="+", default=["fp32", "int8-shortlist"], choices=["fp32", "int8-shortlist"])
    parser.add_argument("--litserve", action="store_true", help="also measure LitServe over the same Translator")
    parser.add_argument("--litserve-timeout", type=float, default=0.005, help="LitServe batch_timeout in seconds")
    parser.add_argument("--overload-only", action="store_true", help="only the overload runs")
    parser.add_argument("--out", type=Path, help="write the results here (JSON)")
    args = parser.parse_args()

    import torch

    path = args.data_dir / f"test2016.{args.src}"
    if not path.is_file():
        raise SystemExit(f"{path}: not found (give --data-dir or set NMT_DATA_DIR)")
    sentences = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()][: args.requests]
    variants = {"fp32": ({}, []), "int8-shortlist": ({"int8": True, "shortlist": (100, 20, 1000)}, ["--int8", "--shortlist"])}
    results = {}
    for name in args.variants:
        options, flags = variants[name]
        results[name] = run_variant(name, args.model_dir, sentences, args, options, flags)
    if args.litserve:
        results["litserve"] = run_litserve(args.model_dir, sentences, args)
    summary = {"benchmark": "serve_load", "model": str(args.model_dir), "sentences": len(sentences), "beam": args.beam,
               "cpu": f"{platform.machine()} {cpu_capability()}", "cores": os.cpu_count(),
               "torch": torch.__version__, "load_average_1_5_15_min": [round(x, 2) for x in os.getloadavg()],
               "results": results}
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
