"""`nmt diagnose length`: buckets by source words, per-bucket scores equal sacreBLEU's on the
subsets, systems from files, run directories and model directories, the plot, one-line errors."""

from __future__ import annotations

import json

import pytest
from sacrebleu.metrics import BLEU, CHRF

from nmt.commands.main import main
from nmt.diagnostics.length import Bucket, assign, length_profile, make_buckets, parse_edges
from nmt.errors import NMTError
from tests.conftest import export_tiny_model, make_pairs

PNG = b"\x89PNG"


def test_edges_make_buckets_from_one_word_up():
    buckets = make_buckets(parse_edges("10,15,20,25"))
    assert [b.label for b in buckets] == ["1-10", "11-15", "16-20", "21-25", "26+"]
    assert make_buckets([1, 3])[0].label == "1" and Bucket(26, None).holds(300)


@pytest.mark.parametrize("text", ["", "10,5", "0,10", "10,10", "ten", "10;15"])
def test_bad_edges_are_errors_naming_the_option(text):
    with pytest.raises(NMTError, match="--buckets"):
        parse_edges(text)


def test_lines_go_to_the_bucket_of_their_word_count():
    sources = ["w " * 10, "w " * 11, "", "w " * 26, "w " * 15, "w"]
    rows = assign(sources, make_buckets([10, 15, 20, 25]))
    assert rows == [[0, 2, 5], [1, 4], [], [], [3]]  # an empty line counts in the first bucket


def corpus(n: int = 60, seed: int = 4):
    """Sources of 2..30 words, references, and a system that gets short sentences right and
    drops half of the words of long ones."""
    pairs = make_pairs(n, seed=seed, min_words=2, max_words=30)
    sources, references = [s for s, _ in pairs], [t for _, t in pairs]
    hypotheses = [t if len(s.split()) <= 12 else " ".join(t.split()[::2]) for s, t in pairs]
    return sources, references, hypotheses


def test_bucket_scores_are_sacrebleu_on_each_subset():
    sources, references, hypotheses = corpus()
    buckets = make_buckets([12, 20])
    profile = length_profile("sys", "file", sources, references, hypotheses, buckets)
    assert profile.bleu == pytest.approx(BLEU().corpus_score(hypotheses, [references]).score)
    for bucket_score, rows in zip(profile.buckets, assign(sources, buckets)):
        hyps, refs = [hypotheses[r] for r in rows], [references[r] for r in rows]
        assert bucket_score.sentences == len(rows) > 0
        assert bucket_score.bleu == pytest.approx(BLEU().corpus_score(hyps, [refs]).score)
        assert bucket_score.chrf == pytest.approx(CHRF().corpus_score(hyps, [refs]).score)
    assert profile.buckets[0].bleu == pytest.approx(100.0) and profile.buckets[-1].bleu < 50.0
    assert "nrefs:1" in profile.signatures["bleu"]


def test_an_empty_bucket_has_no_score():
    profile = length_profile("s", "f", ["a b", "c d"], ["x y", "z w"], ["x y", "z"], make_buckets([5, 10]))
    assert [b.sentences for b in profile.buckets] == [2, 0, 0]
    assert profile.buckets[1].bleu is None and profile.buckets[2].chrf is None


# ----------------------------------------------------------------------------- command


def run_nmt(capsys, *args):
    rc = main(["diagnose", "length", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def files(tmp_path):
    sources, references, hypotheses = corpus()
    paths = {"src": tmp_path / "test.de", "ref": tmp_path / "test.en", "good": tmp_path / "good.en",
             "bad": tmp_path / "bad.en"}
    for key, lines in (("src", sources), ("ref", references), ("good", references), ("bad", hypotheses)):
        paths[key].write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return paths


def test_command_compares_translation_files_in_a_table_json_and_a_plot(files, tmp_path, capsys):
    plot = tmp_path / "len.png"
    common = ["--src", files["src"], "--ref", files["ref"], "--buckets", "12,20", "-o", plot]
    rc, out, err = run_nmt(capsys, files["good"], files["bad"], *common)
    assert rc == 0, err
    assert "good.en" in out and "bad.en" in out and "nrefs:1" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip().startswith(("1-12", "21+", "all"))}
    assert rows["1-12"][1:] == ["100.0", "100.0"] and float(rows["21+"][2]) < 50.0
    assert plot.read_bytes().startswith(PNG) and plot.stat().st_size > 5000

    rc, out, err = run_nmt(capsys, files["good"], files["bad"], *common, "--json", "--labels", "reference", "system")
    assert rc == 0, err
    result = json.loads(out)
    sources, references, hypotheses = corpus()
    expected = length_profile("system", "", sources, references, hypotheses, make_buckets([12, 20]))
    system = result["systems"][1]
    assert system["label"] == "system" and system["bleu"] == pytest.approx(expected.bleu)
    assert [b["bleu"] for b in system["buckets"]] == pytest.approx([b.bleu for b in expected.buckets])
    assert [b["sentences"] for b in system["buckets"]] == [b.sentences for b in expected.buckets]


@pytest.fixture
def run_dir(tmp_path, tiny_tokenizer):
    """runs/toy/export: the shared tiny untrained model (conftest's `export_tiny_model`)."""
    export_tiny_model(tmp_path / "runs" / "toy" / "export", tiny_tokenizer)
    return tmp_path / "runs" / "toy"


def test_models_translate_the_source_as_the_translator_does(run_dir, files, tmp_path, capsys):
    from nmt.decoding.translator import Translator

    rc, out, err = run_nmt(capsys, run_dir, run_dir / "export", "--src", files["src"], "--ref", files["ref"],
                           "--beam", 1, "--json", "-o", tmp_path / "m.svg")
    assert rc == 0, err
    result = json.loads(out[out.index("{"):])
    assert [s["label"] for s in result["systems"]] == ["toy", "toy"]  # a run directory and its export/
    translator = Translator.load(run_dir / "export")
    sources, references, _ = corpus()
    greedy = translator.search_config.model_copy(update={"beam_size": 1})
    hypotheses = [t.text for t in translator.translate(sources, greedy)]
    expected = length_profile("toy", "", sources, references, hypotheses, make_buckets([10, 15, 20, 25]))
    for system in result["systems"]:
        assert system["chrf"] == pytest.approx(expected.chrf)
        assert [b["chrf"] for b in system["buckets"]] == pytest.approx([b.chrf for b in expected.buckets])
    assert (tmp_path / "m.svg").read_text().lstrip().startswith("<?xml")


def assert_one_line_error(rc, err, *fragments):
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("nmt diagnose: error: "), err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize("extra, fragments", [
    (["--buckets", "20,10"], ["--buckets", "increasing"]),
    (["--labels", "a", "b"], ["--labels", "2 names for 1 systems"]),
    (["--beam", "0"], ["--beam", "at least 1"]),
    (["-o", "plot.txt"], ["plot.txt", "unsupported plot format"]),
])
def test_bad_length_arguments_are_one_line_errors(extra, fragments, files, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_nmt(capsys, files["good"], "--src", files["src"], "--ref", files["ref"], *extra)
    assert_one_line_error(rc, err, *fragments)


def test_missing_systems_and_misaligned_files_are_one_line_errors(files, tmp_path, capsys):
    rc, _, err = run_nmt(capsys, tmp_path / "nope", "--src", files["src"], "--ref", files["ref"])
    assert_one_line_error(rc, err, "nope", "no such run directory")
    short = tmp_path / "short.en"
    short.write_text("one line\n", encoding="utf-8")
    rc, _, err = run_nmt(capsys, short, "--src", files["src"], "--ref", files["ref"], "-o", tmp_path / "x.png")
    assert_one_line_error(rc, err, "short.en has 1 lines", "has 60")
    rc, _, err = run_nmt(capsys, files["good"], "--src", files["src"], "--ref", short, "-o", tmp_path / "x.png")
    assert_one_line_error(rc, err, "has 60 lines but", "short.en has 1")
    (tmp_path / "empty_run").mkdir()
    rc, _, err = run_nmt(capsys, tmp_path / "empty_run", "--src", files["src"], "--ref", files["ref"], "-o", tmp_path / "x.png")
    assert_one_line_error(rc, err, "empty_run")
