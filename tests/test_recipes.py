"""Recipes: every shipped config validates and trains one batch (fast_dev_run) with its real model;
every recipe script runs end to end on a tiny stand-in corpus; the download code works against a
mocked network. No test reads the real corpora or touches the network."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from urllib.error import URLError

import datasets
import pytest
import yaml

from nmt.commands.main import main as nmt_main
from nmt.errors import DataError
from nmt.lines import read_lines
from nmt.metrics import score
from nmt.recipe.driver import DataRequest, Pair, build_parser, resolve
from tests.conftest import make_pairs, write_parallel

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
TINY_MODEL = ["model.encoder.emb_size=16", "model.encoder.hidden_size=16", "model.decoder.emb_size=16",
              "model.decoder.hidden_size=32"]
TINY_RUN = ["data.tokenizer.vocab_size=64", "data.batch_tokens=400", "data.num_workers=0", "train.max_steps=6",
            "train.val_every_steps=3", "train.val_max_sentences=4", "train.threads=1", "train.log_every_steps=1"]


def load_recipe(name: str):
    """recipes/<name>/run.py as a module (its RECIPE, data function and constants)."""
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES / name / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MULTI30K, IWSLT14, WMT14, TATOEBA = (load_recipe(name) for name in ("multi30k", "iwslt14", "wmt14", "tatoeba"))
ALL = {"multi30k": MULTI30K, "iwslt14": IWSLT14, "wmt14": WMT14, "tatoeba": TATOEBA}


@pytest.fixture(autouse=True)
def no_local_newstest(tmp_path, monkeypatch):
    """The WMT14 recipe reads newstest files from ../shared when present; tests never do."""
    monkeypatch.setenv("NMT_NEWSTEST_DIR", str(tmp_path / "no-newstest"))


# ----------------------------------------------------------------------------- tiny stand-in corpora


def multi30k_dir(root: Path, pairs=(("de", "en"),)) -> Path:
    directory = root / "multi30k"
    for src, tgt in pairs:
        for stem, n, seed in (("train", 200, 1), ("val", 12, 2), ("test2016", 12, 3)):
            write_parallel(directory, stem, make_pairs(n, seed=seed, max_words=8), src, tgt)
    return directory


def wmt14_dir(root: Path, config: str = "de-en") -> Path:
    other = config.split("-")[0]

    def split(n: int, seed: int) -> datasets.Dataset:
        return datasets.Dataset.from_dict({"translation": [{"en": s, other: t} for s, t in make_pairs(n, seed=seed, max_words=8)]})

    datasets.DatasetDict({"train": split(200, 1), "validation": split(12, 2), "test": split(12, 3)}).save_to_disk(
        str(root / "wmt14" / config))
    return root / "wmt14"


def tatoeba_dir(root: Path, foreign: str = "de", n: int = 260) -> Path:
    """A tiny <foreign>-en.tsv like the Anki export: English first, some English sentences twice."""
    directory = root / "tatoeba"
    directory.mkdir(parents=True, exist_ok=True)
    pairs = make_pairs(n, seed=5, max_words=8)
    pairs += [(t, s + " x") for s, t in pairs[:20]]  # a second translation of 20 English sentences
    (directory / f"{foreign}-en.tsv").write_text("".join(f"{t}\t{s}\n" for s, t in pairs), encoding="utf-8")
    return directory


def xml(segments: list[str]) -> str:
    body = "".join(f'<seg id="{i}"> {s} </seg>\n' for i, s in enumerate(segments, 1))
    return f'<refset>\n<doc docid="1">\n<talkid>1</talkid>\n{body}</doc>\n</refset>\n'


def tags_file(sentences: list[str], title: str) -> str:
    """A train.tags file: tag lines around a talk, as the IWSLT archive has them."""
    head = f"<url>http://www.ted.com/talks/x</url>\n<keywords>talks</keywords>\n<speaker>A</speaker>\n<talkid>1</talkid>\n"
    return head + f"<title>{title}</title>\n" + "".join(s + "\n" for s in sentences) + "<reviewer href=''>B</reviewer>\n"


def iwslt14_archive(path: Path, train: int = 230, test_per_set: int = 3) -> Path:
    """A tiny de-en.tgz laid out like fairseq's download (members under de-en/)."""
    pairs = make_pairs(train, seed=1, max_words=8)
    members = {f"train.tags.de-en.{lang}": tags_file([p[side] for p in pairs], f"Titel {lang}")
               for side, lang in enumerate(("de", "en"))}
    for k, name in enumerate(IWSLT14.TEST_SETS):
        test = make_pairs(test_per_set, seed=10 + k, max_words=8)
        for side, lang in enumerate(("de", "en")):
            members[f"{name}.de-en.{lang}.xml"] = xml([f"{p[side]} it\u2019s" for p in test])
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"de-en/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# ----------------------------------------------------------------------------- shipped configs


def combinations():
    for name, module in ALL.items():
        recipe = module.RECIPE
        for pair in recipe.pairs:
            for model in recipe.models:
                for profile in recipe.profiles:
                    yield pytest.param(name, pair, model, profile, id=f"{name}-{pair}-{model}-{profile}")


@pytest.mark.parametrize("name, pair, model, profile", list(combinations()))
def test_every_shipped_combination_loads_and_validates(name, pair, model, profile):
    recipe = ALL[name].RECIPE
    args = build_parser(recipe).parse_args(["--pair", pair, "--model", model, "--profile", profile])
    plan = resolve(recipe, args, fetch=False)
    config = plan.config
    assert (config.data.src_lang, config.data.tgt_lang) == tuple(pair.split("-"))
    assert config.data.name == f"{name}-{pair}" and config.run_name == f"{name}-{pair}-{model}-{profile}"
    for split in ("valid", "test"):
        assert getattr(config.data, split) is not None or getattr(config.data.holdout, split) > 0
    if name == "multi30k":
        expected = {"baseline": "none", "bahdanau": "bahdanau", "luong": "luong"}[model]
        assert config.model.decoder.attention == expected
        assert (config.train.max_minutes is not None) == (profile == "cpu")
    if profile == "gpu":
        assert config.train.early_stopping_patience and config.train.monitor == "bleu"


def yaml_files() -> list[Path]:
    return sorted(RECIPES.glob("*/*.yaml"))


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_config_key_is_commented(path):
    """Each key with a value carries a comment (choices, meaning); sections may go without."""
    assert isinstance(yaml.safe_load(path.read_text(encoding="utf-8")), dict)
    bare = [f"{path.name}:{i}: {line.strip()}" for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if re.match(r"\s*[A-Za-z_]+:\s*[^\s#]", line) and "#" not in line]
    assert not bare, bare


def fast_dev_runs():
    for name, module in ALL.items():
        recipe = module.RECIPE
        for model in recipe.models:
            for profile in recipe.profiles:
                yield pytest.param(name, model, profile, id=f"{name}-{model}-{profile}")


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> Path:
    """The tiny corpora, made once for the module (tokenizers and caches are shared too)."""
    root = tmp_path_factory.mktemp("stand_ins")
    multi30k_dir(root)
    wmt14_dir(root)
    tatoeba_dir(root)
    return root


def data_overrides(name: str, root: Path) -> list[str]:
    if name == "wmt14":
        return [f"data.{role}.hf={root / 'wmt14' / 'de-en'}" for role in ("train", "valid", "test")]
    if name == "tatoeba":
        return [f"data.train.tsv={root / 'tatoeba' / 'de-en.tsv'}", "data.holdout.test=10", "data.holdout.valid=10"]
    directory = root / "multi30k"
    return [f"data.{role}.{side}={directory / stem}.{lang}"
            for role, stem in (("train", "train"), ("valid", "val"), ("test", "test2016"))
            for side, lang in (("src", "de"), ("tgt", "en"))]


@pytest.mark.parametrize("name, model, profile", list(fast_dev_runs()))
def test_every_shipped_config_trains_a_batch_with_nmt_train(name, model, profile, stand_ins, monkeypatch, capsys):
    """`nmt train --fast-dev-run 1 --config ... --config ...` with the real model: only the data is tiny."""
    monkeypatch.chdir(stand_ins)
    recipe = ALL[name].RECIPE
    configs = [arg for path in recipe.config_files(model, profile) for arg in ("--config", str(path))]
    overrides = data_overrides(name, stand_ins) + [
        "data.src_lang=de" if name != "wmt14" else "data.src_lang=en",
        "data.tgt_lang=en" if name != "wmt14" else "data.tgt_lang=de",
        # data only: a small vocabulary and small batches (one batch is the whole smoke test)
        "data.tokenizer.vocab_size=64", "data.batch_tokens=256", "data.valid_batch_tokens=256", "data.num_workers=0",
        "train.threads=1", f"train.name={name}-{model}-{profile}"]
    assert nmt_main(["train", "--fast-dev-run", "1", *configs, *overrides]) == 0, capsys.readouterr().err
    assert "nothing exported (smoke test)" in capsys.readouterr().out


# ----------------------------------------------------------------------------- end to end


def check_results(run_dir: Path, test_name: str, tgt: str, references: list[str]) -> dict:
    """results.json holds what the brief asks for, and its scores are those of the written outputs."""
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert results["parameters"] > 0 and results["machine"]["cpu"] and results["machine"]["cpu_capability"]
    assert results["train"]["target_tokens_per_s"] > 0 and results["train"]["steps"] == 6
    assert results["train"]["target_tokens"] > 0 and results["train"]["wall_seconds"] > 0
    for label, beam in (("greedy", 1), ("beam5", 5)):
        run = results["test"][label]
        hypotheses = read_lines(run_dir / f"{test_name}.{label}.{tgt}")
        assert run["beam_size"] == beam and len(hypotheses) == len(references) == results["test"]["sentences"]
        bleu, chrf = score(hypotheses, [references], metrics=("bleu", "chrf"))
        assert run["bleu"]["score"] == round(bleu.score, 2) and run["bleu"]["signature"] == bleu.signature
        assert run["chrf"]["score"] == round(chrf.score, 2) and "nrefs:1" in run["chrf"]["signature"]
    return results


@pytest.mark.slow
def test_multi30k_script_runs_end_to_end(tmp_path):
    """The real script, as a user runs it: training progress, samples, then BLEU; results.json."""
    data = multi30k_dir(tmp_path)
    command = [sys.executable, str(RECIPES / "multi30k" / "run.py"), "--data-dir", str(data), "--model", "baseline",
               *TINY_MODEL, *TINY_RUN]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert out.index("validation samples") < out.index("sample translations from test2016") < out.index("BLEU|nrefs:1")
    run_dir = tmp_path / "runs" / "multi30k-de-en-baseline-cpu"
    results = check_results(run_dir, "test2016", "en", read_lines(data / "test2016.en"))
    assert (results["pair"], results["model"], results["profile"]) == ("de-en", "baseline", "cpu")
    assert [Path(c).name for c in results["configs"]] == ["de-en.yaml", "model.yaml", "baseline.yaml", "cpu.yaml"]


def test_iwslt14_script_prepares_the_archive_and_runs_end_to_end(tmp_path, monkeypatch, capsys):
    data = tmp_path / "iwslt14"
    data.mkdir()
    iwslt14_archive(data / "de-en.tgz")  # already downloaded: no network
    monkeypatch.chdir(tmp_path)
    assert IWSLT14.main(IWSLT14.RECIPE, ["--data-dir", str(data), "--download", *TINY_MODEL, *TINY_RUN]) == 0
    assert "BLEU|nrefs:1" in capsys.readouterr().out
    check_results(tmp_path / "runs" / "iwslt14-de-en-luong-gpu", "test", "en", read_lines(data / "test.en"))


def test_wmt14_script_runs_end_to_end_on_a_saved_dataset(tmp_path, monkeypatch, capsys):
    root = wmt14_dir(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert WMT14.main(WMT14.RECIPE, ["--data-dir", str(root), "--samples", "1", *TINY_MODEL, *TINY_RUN]) == 0
    out = capsys.readouterr().out
    assert "newstest2014: 12 sentences" in out
    references = [row["translation"]["de"] for row in datasets.load_from_disk(str(root / "de-en"))["test"]]
    results = check_results(tmp_path / "runs" / "wmt14-en-de-luong-gpu", "newstest2014", "de", references)
    assert results["pair"] == "en-de"

    # evaluated again without training: the same model, the same greedy output
    assert WMT14.main(WMT14.RECIPE, ["--data-dir", str(root), "--skip-training", "--beam", "1", *TINY_MODEL, *TINY_RUN]) == 0
    again = json.loads((tmp_path / "runs" / "wmt14-en-de-luong-gpu" / "results.json").read_text())
    assert again["train"] is None and set(again["test"]) == {"name", "corpus", "sentences", "greedy"}
    assert again["test"]["greedy"]["bleu"] == results["test"]["greedy"]["bleu"]

    # the same command with a larger budget resumes the run instead of starting over
    capsys.readouterr()
    assert WMT14.main(WMT14.RECIPE, ["--data-dir", str(root), "--beam", "1", *TINY_MODEL, *TINY_RUN, "train.max_steps=8"]) == 0
    assert "resuming from" in capsys.readouterr().out
    resumed = json.loads((tmp_path / "runs" / "wmt14-en-de-luong-gpu" / "results.json").read_text())
    assert resumed["train"]["steps"] == 8 and resumed["train"]["batches"] == 2  # two more batches this session


def test_tatoeba_script_carves_its_split_and_runs_end_to_end_in_both_directions(tmp_path, monkeypatch, capsys):
    data = tatoeba_dir(tmp_path)
    monkeypatch.chdir(tmp_path)
    split = ["data.holdout.test=12", "data.holdout.valid=8"]
    assert TATOEBA.main(TATOEBA.RECIPE, ["--data-dir", str(data), "--samples", "1", *TINY_MODEL, *TINY_RUN, *split]) == 0
    out = capsys.readouterr().out
    assert "test: 12 sentences" in out and "held out test 12, valid 8" in out
    assert "validation samples" in out  # the carved validation set is validated on
    carved = next((tmp_path / ".cache" / "nmt" / "tatoeba-de-en").glob("holdout-*"))
    references = read_lines(carved / "test.en")
    results = check_results(tmp_path / "runs" / "tatoeba-de-en-luong-cpu", "test", "en", references)
    assert results["pair"] == "de-en"
    # the same file, the other direction: the columns are picked by language
    assert TATOEBA.main(TATOEBA.RECIPE, ["--pair", "en-de", "--data-dir", str(data), *TINY_MODEL, *TINY_RUN, *split]) == 0
    carved = next((tmp_path / ".cache" / "nmt" / "tatoeba-en-de").glob("holdout-*"))
    english = {line.split("\t")[0] for line in (data / "de-en.tsv").read_text(encoding="utf-8").splitlines()}
    assert set(read_lines(carved / "test.en")) <= english
    check_results(tmp_path / "runs" / "tatoeba-en-de-luong-cpu", "test", "de", read_lines(carved / "test.de"))


def test_tatoeba_downloads_the_anki_export_and_drops_its_attribution_column(tmp_path, monkeypatch, network):
    import zipfile

    files, requested = network
    monkeypatch.setattr(TATOEBA, "SHARED", tmp_path / "no-shared-copy")
    monkeypatch.setattr(TATOEBA, "DOWNLOADS", tmp_path / "downloads")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("fra.txt", "Go.\tVa !\tCC-BY 2.0 (France) #1\nHi.\tSalut !\tCC-BY 2.0 (France) #2\n")
    files["https://www.manythings.org/anki/fra-eng.zip"] = buffer.getvalue()
    corpora = TATOEBA.data(DataRequest(Pair("en", "fr"), None))
    assert corpora == {"train": {"tsv": str(tmp_path / "downloads" / "fr-en.tsv"), "columns": ["en", "fr"]}}
    assert (tmp_path / "downloads" / "fr-en.tsv").read_text(encoding="utf-8") == "Go.\tVa !\nHi.\tSalut !\n"
    assert requested == ["https://www.manythings.org/anki/fra-eng.zip"]


# ----------------------------------------------------------------------------- data selection and errors


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ": error: " in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_pair_selects_languages_and_files(tmp_path):
    data = multi30k_dir(tmp_path, pairs=(("fr", "en"),))
    plan = resolve(MULTI30K.RECIPE, build_parser(MULTI30K.RECIPE).parse_args(["--pair", "fr-en", "--data-dir", str(data)]))
    assert plan.config.data.train.src == data / "train.fr" and plan.config.data.test.tgt == data / "test2016.en"
    assert plan.config.data.name == "multi30k-fr-en"


def test_average_option_sets_train_average(tmp_path):
    data = multi30k_dir(tmp_path)
    args = build_parser(MULTI30K.RECIPE).parse_args(["--data-dir", str(data), "--average", "last"])
    plan = resolve(MULTI30K.RECIPE, args)
    assert plan.config.train.average == "last" and "train.average=last" in plan.overrides
    args = build_parser(MULTI30K.RECIPE).parse_args(["--data-dir", str(data), "--average", "none"])
    assert resolve(MULTI30K.RECIPE, args).config.train.average == "none"


def test_data_dir_comes_from_the_environment(tmp_path, monkeypatch):
    data = multi30k_dir(tmp_path)
    monkeypatch.setenv("NMT_DATA_DIR", str(data))
    plan = resolve(MULTI30K.RECIPE, build_parser(MULTI30K.RECIPE).parse_args([]))
    assert plan.config.data.valid.src == data / "val.de"


@pytest.mark.parametrize("argv, fragments", [
    (["--pair", "de-fr"], ["--pair", "'de-fr'", "de-en, en-de"]),
    (["--data-dir", "nowhere"], ["nowhere: missing train.de", "--download"]),
    (["--beam", "0"], ["--beam"]),
    (["model.decoder.attention=luong_dot"], ["recipes/multi30k/de-en.yaml + ", "model.decoder.attention", "luong_dot", "none, bahdanau"]),
    (["--skip-training", "--data-dir", "corpus"], ["--skip-training", "export not found"]),
])
def test_bad_recipe_arguments_are_one_line_errors(argv, fragments, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    multi30k_dir(tmp_path).rename(tmp_path / "corpus")
    if "--data-dir" not in argv:
        argv = [*argv, "--data-dir", "corpus"]
    assert MULTI30K.main(MULTI30K.RECIPE, argv) == 2
    one_line_error(capsys, *fragments)


# ----------------------------------------------------------------------------- downloads (network mocked)


class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def network(monkeypatch):
    """Serves `files[url]` to nmt.data.download; an unknown URL fails like a 404. Records the requests."""
    files: dict[str, bytes] = {}
    requested: list[str] = []

    def urlopen(request, timeout):
        requested.append(request.full_url)
        if request.full_url not in files:
            raise URLError("HTTP Error 404: Not Found")
        return FakeResponse(files[request.full_url])

    monkeypatch.setattr("nmt.data.download.urlopen", urlopen)
    return files, requested


def test_multi30k_downloads_the_raw_files_when_no_copy_is_found(tmp_path, monkeypatch, network):
    files, requested = network
    monkeypatch.setattr(MULTI30K, "SHARED", tmp_path / "no-shared-copy")
    monkeypatch.setattr(MULTI30K, "DOWNLOADS", tmp_path / "downloads")
    base = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw"
    for remote in ("train", "val", "test_2016_flickr"):
        for lang in ("cs", "en"):
            files[f"{base}/{remote}.{lang}.gz"] = gzip.compress(f"{remote} {lang} 1\n{remote} {lang} 2\n".encode())
    corpora = MULTI30K.data(DataRequest(Pair("cs", "en"), None))
    assert sorted(requested) == sorted(files)
    assert corpora["test"] == {"src": str(tmp_path / "downloads" / "test2016.cs"),
                               "tgt": str(tmp_path / "downloads" / "test2016.en")}
    assert (tmp_path / "downloads" / "test2016.cs").read_text() == "test_2016_flickr cs 1\ntest_2016_flickr cs 2\n"
    assert not list((tmp_path / "downloads").glob("*.part"))
    requested.clear()
    MULTI30K.data(DataRequest(Pair("cs", "en"), None))  # complete now: nothing fetched again
    assert requested == []


def test_multi30k_uses_the_shared_copy_without_downloading(tmp_path, monkeypatch, network):
    monkeypatch.setattr(MULTI30K, "SHARED", multi30k_dir(tmp_path))
    corpora = MULTI30K.data(DataRequest(Pair("de", "en"), None))
    assert corpora["train"]["src"] == str(tmp_path / "multi30k" / "train.de") and network[1] == []


def test_a_failed_download_is_one_error_and_leaves_no_file(tmp_path, network):
    request = DataRequest(Pair("de", "en"), tmp_path / "m30k", download=True)
    with pytest.raises(DataError, match=r"train\.de\.gz: download failed \(HTTP Error 404"):
        MULTI30K.data(request)
    assert not (tmp_path / "m30k" / "train.de").exists() and not list((tmp_path / "m30k").glob("*.part"))


def test_a_corrupt_gzip_download_is_one_error(tmp_path, network):
    from nmt.data.download import fetch

    network[0]["https://example.org/x.gz"] = b"not gzip at all"
    with pytest.raises(DataError, match="x.gz: download failed"):
        fetch("https://example.org/x.gz", tmp_path / "x", gunzip=True, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_iwslt14_download_is_prepared_like_fairseq(tmp_path, network):
    archive = iwslt14_archive(tmp_path / "archive.tgz", train=46)
    network[0][IWSLT14.URL] = archive.read_bytes()
    data = tmp_path / "iwslt14"
    corpora = IWSLT14.data(DataRequest(Pair("de", "en"), data, download=True))
    assert network[1] == [IWSLT14.URL] and (data / "de-en.tgz").is_file()
    train, valid = read_lines(data / "train.en"), read_lines(data / "valid.en")
    lines = ["Titel en"] + [t for _, t in make_pairs(46, seed=1, max_words=8)]  # tag lines gone, title kept
    assert valid == [lines[22], lines[45]]  # every 23rd line
    assert train == [line for i, line in enumerate(lines, 1) if i % 23]
    test = read_lines(data / "test.de")
    assert len(test) == 15 and all(line.endswith("it's") for line in test)  # 5 sets x 3, ’ -> '
    assert corpora["valid"] == {"src": str(data / "valid.de"), "tgt": str(data / "valid.en")}


def test_iwslt14_archive_without_a_test_set_is_one_error(tmp_path):
    with tarfile.open(tmp_path / "de-en.tgz", "w:gz") as tar:
        data = b"<url>x</url>\nHallo\n"
        info = tarfile.TarInfo("de-en/train.tags.de-en.de")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DataError, match="no train.tags.de-en.en in the archive"):
        IWSLT14.read_archive(tmp_path / "de-en.tgz")


@pytest.mark.parametrize("pair, config", [("en-de", "de-en"), ("de-en", "de-en"), ("en-fr", "fr-en")])
def test_wmt14_reads_the_hub_config_of_the_pair(pair, config):
    corpora = WMT14.data(DataRequest(Pair.parse(pair), None))
    assert corpora["train"] == {"hf": "wmt/wmt14", "hf_config": config, "split": "train"}
    assert corpora["valid"]["split"] == "validation" and corpora["test"]["split"] == "test"


def test_wmt14_validates_and_tests_on_local_newstest_files_when_present(tmp_path, monkeypatch):
    newstest = tmp_path / "newstest"
    write_parallel(newstest / "de-en", "newstest2013", make_pairs(5), "de", "en")
    write_parallel(newstest / "de-en", "newstest2014", make_pairs(5), "de", "en")
    monkeypatch.setenv("NMT_NEWSTEST_DIR", str(newstest))
    corpora = WMT14.data(DataRequest(Pair("en", "de"), None))
    assert corpora["train"] == {"hf": "wmt/wmt14", "hf_config": "de-en", "split": "train"}  # training from the hub
    assert corpora["valid"] == {"src": str(newstest / "de-en" / "newstest2013.en"),
                                "tgt": str(newstest / "de-en" / "newstest2013.de")}
    assert corpora["test"]["src"] == str(newstest / "de-en" / "newstest2014.en")
    # fr-en has no local files here: its sets come from the hub dataset
    assert WMT14.data(DataRequest(Pair("en", "fr"), None))["test"] == {"hf": "wmt/wmt14", "hf_config": "fr-en",
                                                                      "split": "test"}


def test_wmt14_local_copy_must_exist(tmp_path):
    with pytest.raises(DataError, match="de-en: not found"):
        WMT14.data(DataRequest(Pair("en", "de"), tmp_path))
