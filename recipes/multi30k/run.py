#!/usr/bin/env python3
"""Multi30k recipe: data -> tokenizer -> train -> translate test2016 -> BLEU and chrF.

    python recipes/multi30k/run.py                                  # de-en, luong attention, cpu profile
    python recipes/multi30k/run.py --model baseline --pair en-de
    python recipes/multi30k/run.py --profile gpu --pair fr-en train.lr=0.002

Data: the files {train,val,test2016}.{de,en,fr,cs} in --data-dir, $NMT_DATA_DIR, or
../shared/data/multi30k beside this checkout; without any of them, the raw Multi30k files are
downloaded from github.com/multi30k/dataset into data/multi30k/. See README.md here.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's nmt, even where another copy is installed

from nmt.data.download import fetch  # noqa: E402
from nmt.recipe import DataRequest, Recipe, ensure_files, main  # noqa: E402

# role in the config -> file stem here (the local copy's names)
FILES = {"train": "train", "valid": "val", "test": "test2016"}
# local stem -> raw file stem in github.com/multi30k/dataset (task 1: one caption per image)
REMOTE = {"train": "train", "val": "val", "test2016": "test_2016_flickr"}
URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/{stem}.{lang}.gz"
SHARED = ROOT.parent / "shared" / "data" / "multi30k"  # the copy beside a checkout
DOWNLOADS = ROOT / "data" / "multi30k"  # where a download goes by default


def needed_files(directory: Path, request: DataRequest) -> list[Path]:
    return [directory / f"{stem}.{lang}" for stem in FILES.values() for lang in (request.pair.src, request.pair.tgt)]


def locate(request: DataRequest) -> Path:
    """The directory asked for; else the shared copy if it holds the pair; else the download folder."""
    if request.data_dir is not None:
        return request.data_dir
    if all(path.is_file() for path in needed_files(SHARED, request)):
        return SHARED
    return DOWNLOADS


def download(directory: Path, missing: list[Path]) -> None:
    for path in missing:
        stem, lang = path.stem, path.suffix.lstrip(".")
        url = URL.format(stem=REMOTE[stem], lang=lang)
        print(f"downloading {url} -> {path}")
        fetch(url, path, gunzip=True)


def data(request: DataRequest) -> dict:
    """Train/valid/test corpora for the pair; missing files are downloaded where that is allowed."""
    directory = locate(request)
    ensure_files(request, directory, needed_files(directory, request), download)
    src, tgt = request.pair.src, request.pair.tgt
    return {role: {"src": str(directory / f"{stem}.{src}"), "tgt": str(directory / f"{stem}.{tgt}")}
            for role, stem in FILES.items()}


PAIRS = ("de-en", "en-de", "fr-en", "en-fr", "cs-en", "en-cs")

RECIPE = Recipe(
    name="multi30k",
    directory=HERE,
    pairs=PAIRS,
    models=("luong", "bahdanau", "baseline"),
    profiles=("cpu", "gpu"),
    data=data,
    base=("de-en.yaml", "model.yaml"),  # the default pair's data; --pair replaces languages and files
    data_env="NMT_DATA_DIR",
    data_help="directory with {train,val,test2016}.{de,en,fr,cs}",
    description=__doc__.split("\n\n")[0],
    test_name="test2016",
)

if __name__ == "__main__":
    sys.exit(main(RECIPE))
