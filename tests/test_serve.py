"""`nmt serve`: the HTTP API over the tiny model, its limits and errors, batching of concurrent
requests, the API key and the lifecycle (start-up errors, SIGTERM)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from nmt.commands.main import main
from nmt.decoding.translator import Translator
from nmt.serving.service import TranslationService, parse_model_specs
from serving import serve_config, TIMEOUT, post, request, running, wait_until

SOURCES = ["abc def", "ghij", "", "kl mno pq rst", "uvw"]


@pytest.fixture
def service(tiny_model_dir):
    return TranslationService.load([f"toy={tiny_model_dir}"], serve_config())


@pytest.fixture
def url(service):
    with running(service) as base:
        yield base


def expected(model_dir, lines, **search):
    translator = Translator.load(model_dir)
    config = translator.search_config.model_copy(update=search)
    return translator.translate(lines, config)


def test_translate_returns_what_the_translator_gives_with_nbest_scores(url, tiny_model_dir):
    status, _, body = post(url, "/v1/translate", {"sentences": SOURCES, "beam_size": 3, "nbest": 2})
    assert status == 200 and body["model"] == "toy"
    want = expected(tiny_model_dir, SOURCES, beam_size=3, nbest=2)
    assert [t["text"] for t in body["translations"]] == [w.text for w in want]
    for got, w in zip(body["translations"], want):
        assert [h["text"] for h in got["nbest"]] == w.texts
        assert [h["score"] for h in got["nbest"]] == pytest.approx([h.score for h in w.hypotheses], abs=1e-5)
    assert body["translations"][2] == {"text": "", "nbest": [], "truncated": False, "alignment": None, "attention": None}


def test_alignment_and_attention_come_on_request(url):
    status, _, body = post(url, "/v1/translate", {"sentences": ["abc def"], "alignment": True, "attention": True})
    assert status == 200
    result = body["translations"][0]
    attention = result["attention"]
    assert attention["source"][-1] == "</s>"
    assert len(attention["weights"]) == len(attention["target"]) and len(attention["weights"][0]) == len(attention["source"])
    assert all(abs(sum(row) - 1) < 1e-3 for row in attention["weights"])
    assert all("-" in pair for pair in result["alignment"].split())


def test_attention_from_a_model_without_attention_is_a_400(tiny_none_model_dir):
    with running(TranslationService.load([str(tiny_none_model_dir)])) as base:
        status, _, body = post(base, "/v1/translate", {"sentences": ["abc"], "attention": True})
    assert status == 400 and body["error"].startswith("attention:")


def test_opennmt_py_request_format_is_accepted(url, tiny_model_dir):
    status, _, body = post(url, "/translator/translate", [{"src": "abc def", "id": "toy"}, {"src": "ghij"}])
    assert status == 200
    want = expected(tiny_model_dir, ["abc def", "ghij"], nbest=1)
    assert [r["tgt"] for r in body[0]] == [w.text for w in want]
    assert [r["src"] for r in body[0]] == ["abc def", "ghij"] and body[0][0]["n_best"] == 1
    assert body[0][0]["pred_score"] == pytest.approx(want[0].hypotheses[0].score, abs=1e-5)


def test_health_ready_models_and_openapi(url):
    assert request(url, "GET", "/health")[2] == {"status": "ok"}
    assert request(url, "GET", "/ready")[2] == {"status": "ready", "models": ["toy"]}
    models = request(url, "GET", "/v1/models")[2]
    assert [m["name"] for m in models] == ["toy"] and models[0]["search"]["beam_size"] == 3
    assert models[0]["config"]["model"]["decoder"]["attention"] == "luong"
    paths = request(url, "GET", "/openapi.json")[2]["paths"]
    assert {"/v1/translate", "/translator/translate", "/health", "/ready", "/v1/models"} <= set(paths)
    schema = paths["/v1/translate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "sentences" in schema["required"]


def test_the_page_is_served(url):
    status, headers, text = request(url, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html") and 'id="translate"' in text


BAD = [  # (body, raw bytes instead, status, the error starts with)
    (None, b"{", 400, "body: not valid JSON"),
    (None, b"", 400, "body: empty"),
    (None, b'{"sentences": ["\xff\xfe"]}', 400, "body: not UTF-8"),
    ([1, 2], None, 400, "body: expected a JSON object"),
    ({}, None, 400, "sentences: required field is missing"),
    ({"sentences": "abc"}, None, 400, "sentences: Input should be a valid list"),
    ({"sentences": [1]}, None, 400, "sentences[0]: Input should be a valid string"),
    ({"sentences": []}, None, 400, "sentences: an empty list"),
    ({"sentences": ["a"], "beam": 3}, None, 400, "beam: unknown field"),
    ({"sentences": ["a"], "beam_size": "5"}, None, 400, "beam_size: Input should be a valid integer"),
    ({"sentences": ["a"], "beam_size": 0}, None, 400, "beam_size: Input should be greater than or equal to 1"),
    ({"sentences": ["a"], "beam_size": 17}, None, 400, "beam_size: 17 is more than this server's max_beam 16"),
    ({"sentences": ["a"], "beam_size": 2, "nbest": 3}, None, 400, "nbest: 3 is more than beam_size 2"),
    ({"sentences": ["a"], "alpha": -1}, None, 400, "alpha: Input should be greater than or equal to 0"),
    ({"sentences": ["a"], "length_penalty": "short"}, None, 400, "length_penalty: Input should be"),
    ({"sentences": ["a"], "attention": 1}, None, 400, "attention: Input should be a valid boolean"),
    ({"sentences": ["a"], "model": "nope"}, None, 400, "model: unknown model \"nope\"; served: toy"),
    ({"sentences": ["a" * 100_000]}, None, 413, "sentences[0]: 100000 characters"),
    ({"sentences": ["a"] * 10_000}, None, 413, "sentences: 10000 sentences"),
]


@pytest.mark.parametrize("body,raw,status,error", BAD, ids=[b[3].split(":")[0] + str(i) for i, b in enumerate(BAD)])
def test_a_bad_request_gets_a_4xx_naming_the_field_and_the_server_goes_on(url, body, raw, status, error):
    got, headers, answer = post(url, "/v1/translate", body, raw=raw)
    assert (got, headers["content-type"]) == (status, "application/json")
    assert answer["error"].startswith(error), answer
    assert "\n" not in answer["error"] and len(answer["error"]) < 300
    assert post(url, "/v1/translate", {"sentences": ["abc"]})[0] == 200


def test_bad_opennmt_requests_name_the_item(url):
    assert post(url, "/translator/translate", [{"src": "a"}, {"text": "b"}])[2]["error"] == "[1].src: required field is missing"
    assert post(url, "/translator/translate", [{"src": "a", "id": 7}])[2]["error"].startswith("[0].id: unknown model \"7\"")
    assert post(url, "/translator/translate", [])[0] == 400


def test_a_body_larger_than_the_limits_allow_is_a_413(url):
    status, _, body = post(url, "/v1/translate", raw=b'{"sentences": ["' + b"a" * 3_000_000 + b'"]}')
    assert status == 413 and body["error"].startswith("body:")


def test_unknown_paths_and_methods_are_json_errors(url):
    assert request(url, "GET", "/nope")[:1] == (404,)
    status, _, body = request(url, "GET", "/v1/translate")
    assert status == 405 and body["error"].startswith("GET /v1/translate")


def test_concurrent_requests_are_decoded_in_one_batch_with_the_results_of_each_alone(tiny_model_dir):
    lines = [[f"abc {'def ' * i}ghij"] if i % 3 else ["kl", "mno pq", ""] for i in range(8)]
    service = TranslationService.load([str(tiny_model_dir)], serve_config(max_wait_ms=TIMEOUT * 1000))
    translator = service.models[service.default].translator
    # the budget is exactly what the eight requests hold: the batch closes when the last arrives
    service.batcher.max_tokens = sum(min(len(ids), translator.max_src_tokens) + 1
                                     for request_lines in lines for ids in translator.tokenizer.encode_src(request_lines))
    with running(service) as base, concurrent.futures.ThreadPoolExecutor(len(lines)) as pool:
        answers = list(pool.map(lambda sentences: post(base, "/v1/translate", {"sentences": sentences}), lines))
        stats = request(base, "GET", "/v1/stats")[2]
    assert stats["batches"] == 1 and stats["requests"] == len(lines)
    alone = Translator.load(tiny_model_dir)
    for sentences, (status, _, body) in zip(lines, answers):
        assert status == 200
        want = [alone.translate([line])[0] for line in sentences]
        assert [t["text"] for t in body["translations"]] == [w.text for w in want]
        assert [t["nbest"][0]["score"] if t["nbest"] else None for t in body["translations"]] == pytest.approx(
            [w.hypotheses[0].score if w.hypotheses else None for w in want], abs=1e-5)


def blocked(service):
    """Make the service's decoder wait for `release`; `started` is set once it holds a batch."""
    started, release = threading.Event(), threading.Event()
    decode = service.batcher.run

    def slow(key, lines):
        started.set()
        assert release.wait(TIMEOUT)
        return decode(key, lines)

    service.batcher.run = slow
    return started, release


def test_a_full_queue_answers_503_with_retry_after_at_once(tiny_model_dir):
    service = TranslationService.load([str(tiny_model_dir)], serve_config(max_queue=2, max_wait_ms=0))
    started, release = blocked(service)
    with running(service) as base, concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, base, "/v1/translate", {"sentences": ["abc"]})
        assert started.wait(TIMEOUT)  # the decoder holds the first request
        second = pool.submit(post, base, "/v1/translate", {"sentences": ["def", "ghij"]})
        wait_until(lambda: service.batcher.queued == 2, "the second request to be queued")
        status, headers, body = post(base, "/v1/translate", {"sentences": ["kl"]})
        assert status == 503 and headers["retry-after"] == "1" and body["error"].startswith("the queue is full")
        release.set()
        assert first.result(TIMEOUT)[0] == second.result(TIMEOUT)[0] == 200


def test_a_request_not_decoded_in_time_gets_503_and_leaves_the_queue(tiny_model_dir):
    service = TranslationService.load([str(tiny_model_dir)], serve_config(request_timeout_s=0.2, max_wait_ms=0))
    started, release = blocked(service)
    with running(service) as base, concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, base, "/v1/translate", {"sentences": ["abc"]})
        assert started.wait(TIMEOUT)
        status, _, body = post(base, "/v1/translate", {"sentences": ["def"]})  # queued behind it: times out
        assert status == 503 and "request_timeout_s" in body["error"]
        release.set()
        assert first.result(TIMEOUT)[0] == 503  # the first timed out too, while being decoded
        assert post(base, "/v1/translate", {"sentences": ["abc"]})[0] == 200
    assert service.batcher.stats.sentences == 2  # the cancelled second one was never decoded


def test_the_api_key_is_required_everywhere_but_health_and_the_page(tiny_model_dir):
    service = TranslationService.load([str(tiny_model_dir)], serve_config(api_key="s3cret"))
    with running(service) as base:
        for path in ("/v1/models", "/ready", "/openapi.json"):
            status, headers, body = request(base, "GET", path)
            assert status == 401 and headers["www-authenticate"] == "Bearer" and body["error"].startswith("authorization:")
        assert post(base, "/v1/translate", {"sentences": ["abc"]})[0] == 401
        assert post(base, "/v1/translate", {"sentences": ["abc"]}, headers={"Authorization": "Bearer wrong"})[0] == 401
        assert post(base, "/translator/translate", [{"src": "abc"}], headers={"Authorization": "Bearer wrong"})[0] == 401
        assert post(base, "/v1/translate", {"sentences": ["abc"]}, headers={"Authorization": "Bearer s3cret"})[0] == 200
        assert request(base, "GET", "/health")[0] == 200 and request(base, "GET", "/")[0] == 200


def test_model_names_come_from_the_run_or_name_equals_dir(tmp_path):
    assert parse_model_specs(["runs/multi30k/export", "big=/m/x", "plain"]) == [
        ("multi30k", tmp_path.__class__("runs/multi30k/export")), ("big", tmp_path.__class__("/m/x")),
        ("plain", tmp_path.__class__("plain"))]


@pytest.mark.parametrize("specs,error", [
    (["a=x", "a=y"], "two models named 'a'"),
    (["=x"], "an empty model name"),
])
def test_bad_model_specs_are_one_line_errors(specs, error, capsys):
    assert main(["serve", *specs]) == 2
    assert error in capsys.readouterr().err


def test_a_bad_model_directory_at_start_up_exits_2_with_one_line(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing"), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"nmt serve: error: {tmp_path / 'missing'}: model directory not found"


@pytest.mark.slow
def test_sigterm_answers_every_request_in_flight_then_exits_0(tiny_model_dir):
    """A real `nmt serve` process: eight requests queued (the batch waits for more), SIGTERM,
    and every one is answered with its translation; the process then exits with status 0."""
    process = subprocess.Popen([sys.executable, "-m", "nmt", "serve", str(tiny_model_dir), "--port", "0",
                                "--max-wait-ms", str(TIMEOUT * 1000), "--max-batch-tokens", "100000"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = process.stdout.readline()
        assert "listening on" in line, line + process.stderr.read()
        base = line.split("listening on ")[1].split()[0]
        sentences = [[f"abc {'def ' * i}"] for i in range(8)]
        with concurrent.futures.ThreadPoolExecutor(len(sentences)) as pool:
            answers = [pool.submit(post, base, "/v1/translate", {"sentences": s}) for s in sentences]
            wait_until(lambda: request(base, "GET", "/v1/stats")[2]["queued"] == len(sentences), "8 queued sentences")
            process.send_signal(signal.SIGTERM)
            results = [answer.result(TIMEOUT) for answer in answers]
        assert process.wait(TIMEOUT) == 0, process.stderr.read()
    finally:
        process.kill()
        process.wait()
    alone = Translator.load(tiny_model_dir)
    for s, (status, _, body) in zip(sentences, results):
        assert status == 200 and body["translations"][0]["text"] == alone.translate(s)[0].text


@pytest.mark.slow
def test_the_decoder_process_gives_the_translators_results_and_its_errors(tiny_model_dir, tiny_none_model_dir):
    service = TranslationService.load([f"toy={tiny_model_dir}", f"none={tiny_none_model_dir}"],
                                      serve_config(decoder_process=True))
    assert service.decoder is not None and service.decoder.process.is_alive()
    with running(service) as base:
        status, _, body = post(base, "/v1/translate", {"sentences": SOURCES, "beam_size": 3, "nbest": 2, "attention": True})
        assert status == 200
        want = expected(tiny_model_dir, SOURCES, beam_size=3, nbest=2)
        assert [[h["text"] for h in t["nbest"]] for t in body["translations"]] == [w.texts for w in want]
        assert body["translations"][0]["attention"]["weights"]
        status, _, body = post(base, "/v1/translate", {"sentences": ["abc"], "model": "none"})
        assert status == 200 and body["model"] == "none"
        service.decoder.process.kill()  # a crashed decoder: not ready, and a one-line 500, no hang
        service.decoder.process.join(TIMEOUT)
        assert request(base, "GET", "/ready")[0] == 503
        status, _, body = post(base, "/v1/translate", {"sentences": ["abc"]})
        assert status == 500 and body["error"].startswith("internal error: RuntimeError: the decoding process died")
