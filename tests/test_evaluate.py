"""`nmt evaluate` against sacrebleu's own command on generated files, and its one-line errors."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import subprocess
import sys

import pytest

from nmt.commands.main import main
from nmt.lines import read_lines
from nmt.metrics import paired_bootstrap, score

WORDS = ["Ein", "Mann", "die", "Frau", "spielt", "Straße", "naïve", "«Café»", "don't", "3.5", "U.S.",
         "—", "Kinder", "laufen", "über", "den", "Hof", ",", ".", "!", "Hund", "rot", "ÉCOLE", "日本"]


def perturb(words: list[str], rng: random.Random, noise: float) -> list[str]:
    out = [rng.choice(WORDS) if rng.random() < noise else w for w in words if rng.random() > noise / 3]
    return out if rng.random() > 0.1 else [w.upper() for w in out]


@pytest.fixture
def corpus(tmp_path):
    """Two references, a system and a worse baseline.

    With CRLF line ends, trailing blanks, an empty line and no newline after the last line.
    """
    rng = random.Random(7)
    refs = [[rng.choice(WORDS) for _ in range(rng.randint(1, 15))] for _ in range(60)]
    files = {
        "ref1": [" ".join(r) for r in refs],
        "ref2": [" ".join(perturb(r, rng, 0.2)) for r in refs],
        "hyp": [" ".join(perturb(r, rng, 0.3)) for r in refs],
        "base": [" ".join(perturb(r, rng, 0.6)) for r in refs],
    }
    files["hyp"][5] = ""
    files["hyp"][6] += "  \t"
    paths = {}
    for name, lines in files.items():
        path = tmp_path / f"{name}.txt"
        body = "\n".join(line + ("\r" if i % 7 == 3 else "") for i, line in enumerate(lines))
        path.write_bytes(body.encode("utf-8"))  # no newline after the last line
        paths[name] = str(path)
    return paths


def sacrebleu(*args: str) -> str:
    env = dict(os.environ, NO_COLOR="1")
    command = [sys.executable, "-m", "sacrebleu", "-q", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout


def nmt(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["evaluate", *args])
    out, err = capsys.readouterr()
    return rc, out, err


METRICS = ["bleu", "chrf", "ter"]


@pytest.mark.parametrize(
    "ours, theirs, refs",
    [
        ([], [], ["ref1"]),
        (["--lowercase"], ["-lc", "--chrf-lowercase"], ["ref1"]),
        (["--tokenize", "char"], ["-tok", "char"], ["ref1", "ref2"]),
    ],
)
def test_scores_and_signatures_equal_the_sacrebleu_command(corpus, capsys, ours, theirs, refs):
    ref_files = [corpus[r] for r in refs]
    command = [*ref_files, "-i", corpus["hyp"], "-m", *METRICS, "-w", "6", "-f", "json", *theirs]
    expected = json.loads(sacrebleu(*command))
    rc, out, _ = nmt(capsys, "--hyp", corpus["hyp"], "--ref", *ref_files, "-w", "6", "--json", *ours)
    assert rc == 0
    assert json.loads(out) == expected
    assert 0 < expected[0]["score"] < 100  # a non-trivial BLEU


def test_text_output_is_the_sacrebleu_commands(corpus, capsys):
    rc, out, _ = nmt(capsys, "--hyp", corpus["hyp"], "--ref", corpus["ref1"])
    assert rc == 0
    assert out == sacrebleu(corpus["ref1"], "-i", corpus["hyp"], "-m", *METRICS, "-f", "text")
    assert [line.split("|")[0].strip() for line in out.splitlines()] == ["BLEU", "chrF2", "TER"]


def test_metrics_option_chooses_and_orders_metrics(corpus, capsys):
    rc, out, _ = nmt(capsys, "--hyp", corpus["hyp"], "--ref", corpus["ref1"], "-m", "ter", "bleu", "--json")
    assert rc == 0
    assert [r["name"] for r in json.loads(out)] == ["TER", "BLEU"]


def test_score_function_gives_full_precision_named_results():
    lines = ["Ein Mann spielt .", "Die Kinder laufen über den Hof ."]
    results = score(lines, [lines])
    assert [(r.metric, r.name) for r in results] == [("bleu", "BLEU"), ("chrf", "chrF2"), ("ter", "TER")]
    assert [r.score for r in results] == pytest.approx([100.0, 100.0, 0.0])
    assert results[0].signature.startswith("nrefs:1|case:mixed|eff:no|tok:13a")


def test_gzipped_files_score_like_plain_ones(corpus, tmp_path, capsys):
    gz = tmp_path / "hyp.txt.gz"
    gz.write_bytes(gzip.compress(open(corpus["hyp"], "rb").read()))
    assert read_lines(gz) == read_lines(corpus["hyp"])


def test_paired_bootstrap_equals_sacrebleu_paired_bs(corpus, capsys, monkeypatch):
    """Against the command's text table (its JSON output fails on numpy floats in sacrebleu 2.6)."""
    monkeypatch.delenv("SACREBLEU_SEED", raising=False)  # both sides use the default seed
    table = sacrebleu(corpus["ref1"], "-i", corpus["base"], corpus["hyp"], "-m", *METRICS,
                      "--paired-bs", "--paired-bs-n", "200", "-w", "6", "-f", "text")
    triples = re.findall(r"(-?\d+\.\d+) \((-?\d+\.\d+) ± (\d+\.\d+)\)", table)  # baseline row, system row
    p_values = re.findall(r"\(p = (\d\.\d{4})\)", table)
    signatures = re.findall(r"^ - (\S+) +(nrefs:\S+)$", table, flags=re.M)
    rc, out, _ = nmt(capsys, "--hyp", corpus["hyp"], "--ref", corpus["ref1"], "--baseline", corpus["base"],
                     "--bootstrap-samples", "200", "--json")
    assert rc == 0
    ours = json.loads(out)
    assert len(triples) == 6 and len(p_values) == 3 and len(ours) == 3
    for i, r in enumerate(ours):
        assert tuple(f"{r[k]:.6f}" for k in ("baseline_score", "baseline_mean", "baseline_ci")) == triples[i]
        assert tuple(f"{r[k]:.6f}" for k in ("score", "mean", "ci")) == triples[3 + i]
        assert f"{r['p_value']:.4f}" == p_values[i]
        assert (r["name"], r["signature"]) == signatures[i]
        assert "|bs:200|seed:12345|" in r["signature"]


def test_a_clearly_better_system_is_significant(corpus, capsys):
    rc, out, _ = nmt(capsys, "--hyp", corpus["ref2"], "--ref", corpus["ref1"], "--baseline", corpus["base"],
                     "--bootstrap-samples", "100")
    assert rc == 0
    rows = [line for line in out.splitlines() if "  system " in line]
    assert len(rows) == 3 and all(line.endswith(" *") for line in rows)
    hyp, base, ref = (read_lines(corpus[name]) for name in ("hyp", "base", "ref1"))
    paired = paired_bootstrap(hyp, base, [ref], samples=100)
    bleu, chrf, ter = paired
    assert (bleu.name, chrf.name, ter.name) == ("BLEU", "chrF2", "TER")
    assert bleu.score > bleu.baseline_score and chrf.score > chrf.baseline_score
    assert ter.score < ter.baseline_score  # TER: lower is better
    assert all(r.significant for r in paired)


def test_equal_scores_are_never_marked_significant(tmp_path, capsys):
    ref, hyp, base = tmp_path / "ref", tmp_path / "hyp", tmp_path / "base"
    ref.write_text("a b\nc d\n", encoding="utf-8")
    hyp.write_text("a b\nc d\n", encoding="utf-8")
    base.write_text("a\nc\n", encoding="utf-8")  # BLEU 0 for both: no 3- or 4-grams anywhere
    args = ["--hyp", str(hyp), "--ref", str(ref), "--baseline", str(base), "-m", "bleu", "--json"]
    rc, out, _ = nmt(capsys, *args)
    (bleu,) = json.loads(out)
    assert rc == 0 and bleu["score"] == bleu["baseline_score"] == 0.0
    assert bleu["p_value"] < 0.05 and not bleu["significant"]  # sacrebleu's p for all-tied resamples


def assert_one_line_error(rc: int, err: str, *fragments: str):
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("nmt evaluate: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def test_different_line_counts_name_the_files_and_counts(corpus, tmp_path, capsys):
    short = tmp_path / "short.txt"
    short.write_text("one\ntwo\n", encoding="utf-8")
    rc, _, err = nmt(capsys, "--hyp", corpus["hyp"], "--ref", str(short))
    assert_one_line_error(rc, err, corpus["hyp"], "60 lines", str(short), "has 2")
    rc, _, err = nmt(capsys, "--hyp", corpus["hyp"], "--ref", corpus["ref1"], "--baseline", str(short))
    assert_one_line_error(rc, err, str(short), "has 2")


def test_missing_file_is_a_one_line_error(corpus, tmp_path, capsys):
    rc, _, err = nmt(capsys, "--hyp", str(tmp_path / "nope.txt"), "--ref", corpus["ref1"])
    assert_one_line_error(rc, err, "nope.txt", "not found")


def test_non_utf8_bytes_name_the_file_and_line(corpus, tmp_path, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("first\nsecond\nStraße\n".encode("latin-1"))
    rc, _, err = nmt(capsys, "--hyp", str(bad), "--ref", corpus["ref1"])
    assert_one_line_error(rc, err, str(bad), "line 3", "not UTF-8")


def test_empty_hypothesis_file_is_an_error(corpus, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    rc, _, err = nmt(capsys, "--hyp", str(empty), "--ref", corpus["ref1"])
    assert_one_line_error(rc, err, str(empty), "no lines")


# ----------------------------------------------------------------------------- MODEL_DIR --src: translate and score


@pytest.fixture
def toy_test_set(tmp_path):
    from tests.conftest import make_pairs, write_parallel

    pairs = make_pairs(6, seed=9, max_words=5)
    pairs[2] = ("", "")  # an empty line stays an empty hypothesis
    return write_parallel(tmp_path / "data", "test", pairs)


def test_model_dir_translates_writes_hypotheses_and_scores_them(tiny_model_dir, toy_test_set, tmp_path, capsys):
    from nmt.config import SearchConfig
    from nmt.decoding.translator import Translator

    src, ref = toy_test_set
    hyp = tmp_path / "out" / "hyp.en"
    hyp.parent.mkdir()
    rc, out, err = nmt(capsys, str(tiny_model_dir), "--src", str(src), "--ref", str(ref), "--hyp-out", str(hyp),
                       "--beam", "2", "--json")
    assert rc == 0
    assert f"6 translations written to {hyp}" in err
    translator = Translator.load(tiny_model_dir)
    expected = [t.text for t in translator.translate(read_lines(src), SearchConfig(beam_size=2, max_len=20))]
    assert read_lines(hyp) == expected and expected[2] == ""
    assert json.loads(out) == json.loads(nmt(capsys, "--hyp", str(hyp), "--ref", str(ref), "--json")[1])


def test_model_dir_hypotheses_go_beside_the_run_by_default(tiny_model_dir, toy_test_set, tmp_path, capsys):
    import shutil

    model = tmp_path / "runs" / "toy" / "export"
    shutil.copytree(tiny_model_dir, model)
    src, ref = toy_test_set
    rc, out, err = nmt(capsys, str(model), "--src", str(src), "--ref", str(ref), "-m", "bleu")
    assert rc == 0 and out.startswith("BLEU|")
    written = tmp_path / "runs" / "toy" / "test.beam3.en"  # <SRC stem>.beam<K>.<target language>
    assert written.is_file() and len(read_lines(written)) == 6


@pytest.mark.parametrize("args, fragments", [
    (["MODEL", "--hyp", "HYP", "--ref", "REF"], ["either --hyp or MODEL_DIR --src"]),
    (["MODEL", "--ref", "REF"], ["MODEL_DIR needs --src SRC"]),
    (["--src", "SRC", "--hyp", "HYP", "--ref", "REF"], ["--src and --hyp-out need MODEL_DIR"]),
    (["--ref", "REF"], ["give --hyp HYP"]),
    (["MODEL", "--src", "SRC", "--ref", "SHORT"], ["SRC", "has 6 lines but", "SHORT", "has 2"]),
    (["MODEL", "--src", "SRC", "--ref", "REF", "--beam", "0"], ["--beam: Input should be greater than or equal to 1"]),
])
def test_model_dir_usage_errors_are_one_line(tiny_model_dir, toy_test_set, tmp_path, capsys, args, fragments):
    src, ref = toy_test_set
    short = tmp_path / "short.en"
    short.write_text("one\ntwo\n", encoding="utf-8")
    paths = {"MODEL": tiny_model_dir, "SRC": src, "REF": ref, "HYP": ref, "SHORT": short}
    rc, _, err = nmt(capsys, *(str(paths.get(a, a)) for a in args))
    assert_one_line_error(rc, err, *(str(paths.get(f, f)) for f in fragments))
    assert not list(tiny_model_dir.parent.glob("*.beam*"))  # nothing translated or written
