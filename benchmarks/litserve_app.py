"""The same Translator behind LitServe, for `benchmarks/serve_load.py --litserve`: what batching
by a serving library gives, against `nmt serve`'s own token-budget batcher.

LitServe batches requests by count (`max_batch_size`, `batch_timeout`) in a worker process and
sends them through its queues; one request here is one sentence (`{"sentence": ..., "beam_size": 5}`).
Prints `listening on URL` once `/health` answers. Loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import sys
import threading
import time
from pathlib import Path

import litserve as ls

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class TranslatorAPI(ls.LitAPI):
    def __init__(self, model_dir: str, **kwargs):
        super().__init__(**kwargs)
        self.model_dir = model_dir

    def setup(self, device):
        from nmt.decoding.translator import Translator

        self.translator = Translator.load(self.model_dir, batch_size=64)

    def decode_request(self, request):
        return request["sentence"], int(request.get("beam_size", 5))

    def batch(self, inputs):
        return inputs

    def predict(self, inputs):
        if not isinstance(inputs, list):
            inputs = [inputs]
        beams = {beam for _, beam in inputs}
        assert len(beams) == 1, "one beam size per batch in this benchmark"
        config = self.translator.search_config.model_copy(update={"beam_size": beams.pop(), "nbest": 1})
        return [t.text for t in self.translator.translate([s for s, _ in inputs], config)]

    def unbatch(self, output):
        return output

    def encode_response(self, output):
        return {"translation": output}


def announce(port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                print(f"litserve: listening on http://127.0.0.1:{port}", flush=True)
                return
        except OSError:
            pass
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-timeout", type=float, default=0.005)
    args = parser.parse_args()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = TranslatorAPI(args.model_dir, max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, timeout=120)
    threading.Thread(target=announce, args=(port,), daemon=True).start()
    server.run(host="127.0.0.1", port=port, log_level="warning", generate_client_file=False, num_api_servers=1)


if __name__ == "__main__":
    main()
