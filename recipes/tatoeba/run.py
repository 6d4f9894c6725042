#!/usr/bin/env python3
"""Tatoeba recipe: one TSV per language pair, split by the toolkit -> tokenizer -> train ->
translate the held-out test set -> BLEU and chrF.

    python recipes/tatoeba/run.py                       # de-en, Luong attention, cpu profile
    python recipes/tatoeba/run.py --pair en-fr --profile gpu

Data: `<dir>/de-en.tsv` and `<dir>/fr-en.tsv` (`English<TAB>foreign`, the manythings.org Anki
export of tatoeba.org) in --data-dir, $NMT_TATOEBA_DIR, or ../shared/data/tatoeba beside this
checkout; otherwise the zip is downloaded from manythings.org into data/tatoeba/. The file has
no split: `data.holdout` carves validation and test sets out of it (see README.md here).
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's nmt, even where another copy is installed

from nmt.data.download import fetch  # noqa: E402
from nmt.errors import DataError  # noqa: E402
from nmt.recipe import DataRequest, Recipe, ensure_files, main  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "tatoeba"  # the copy beside a checkout
DOWNLOADS = ROOT / "data" / "tatoeba"
# manythings.org names its zips by ISO 639-3 code; the TSV inside is <code>.txt
CODES = {"de": "deu", "fr": "fra"}
URL = "https://www.manythings.org/anki/{code}-eng.zip"


def foreign(request: DataRequest) -> str:
    return request.pair.tgt if request.pair.src == "en" else request.pair.src


def corpus_file(directory: Path, request: DataRequest) -> Path:
    return directory / f"{foreign(request)}-en.tsv"


def locate(request: DataRequest) -> Path:
    if request.data_dir is not None:
        return request.data_dir
    if corpus_file(SHARED, request).is_file():
        return SHARED
    return DOWNLOADS


def download(directory: Path, missing: list[Path]) -> None:
    """The zip holds <code>.txt; its lines are English<TAB>foreign<TAB>attribution (newer exports):
    the attribution is dropped so the file has the two columns the shared copy has."""
    for path in missing:
        lang = path.name.split("-")[0]
        url = URL.format(code=CODES[lang])
        archive = path.with_suffix(".zip")
        print(f"downloading {url} -> {archive}")
        fetch(url, archive)
        try:
            with zipfile.ZipFile(archive) as bundle, bundle.open(f"{CODES[lang]}.txt") as member:
                with open(path, "w", encoding="utf-8") as out:
                    for line in io.TextIOWrapper(member, encoding="utf-8"):
                        out.write("\t".join(line.rstrip("\n").split("\t")[:2]) + "\n")
        except (zipfile.BadZipFile, KeyError) as err:
            raise DataError(f"{archive}: not the expected Tatoeba export ({err})") from None


def data(request: DataRequest) -> dict:
    """One corpus, English in the first column; the languages pick the columns for either direction."""
    directory = locate(request)
    path = corpus_file(directory, request)
    ensure_files(request, directory, [path], download)
    return {"train": {"tsv": str(path), "columns": ["en", foreign(request)]}}


RECIPE = Recipe(
    name="tatoeba",
    directory=HERE,
    pairs=("de-en", "en-de", "fr-en", "en-fr"),
    models=("luong",),
    profiles=("cpu", "gpu"),
    data=data,
    base=("data.yaml", "model.yaml"),
    data_env="NMT_TATOEBA_DIR",
    data_help="directory with de-en.tsv and fr-en.tsv (English<TAB>foreign)",
    description=__doc__.split("\n\n")[0],
    test_name="test",
)

if __name__ == "__main__":
    sys.exit(main(RECIPE))
