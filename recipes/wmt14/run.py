#!/usr/bin/env python3
"""WMT14 English -> German / English -> French recipe: the wmt/wmt14 hub dataset, a joint 32k
SentencePiece model, a two-layer LSTM with Luong attention trained on a GPU to convergence
(validation newstest2013), BLEU on newstest2014.

    python recipes/wmt14/run.py                       # en-de from the hub
    python recipes/wmt14/run.py --pair en-fr
    python recipes/wmt14/run.py --data-dir /data/wmt14   # /data/wmt14/de-en: a save_to_disk copy

`datasets` downloads and caches the hub data on first use (~1.5 GB for de-en, ~15 GB for fr-en).
Validation and test are newstest2013 and newstest2014 read from plain text files when they are
on the machine ($NMT_NEWSTEST_DIR, else ../shared/data/newstest beside this checkout:
`<dir>/de-en/newstest2013.de` ...), else the hub dataset's validation and test splits (the same
sets, downloaded with it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's nmt, even where another copy is installed

from nmt.errors import DataError  # noqa: E402
from nmt.recipe import DataRequest, Recipe, main  # noqa: E402

HUB = "wmt/wmt14"
SPLITS = {"train": "train", "valid": "validation", "test": "test"}  # role -> split (newstest2013, newstest2014)
NEWSTEST = {"valid": "newstest2013", "test": "newstest2014"}  # the same sets as local text files
SHARED_NEWSTEST = ROOT.parent / "shared" / "data" / "newstest"  # the copy beside a checkout


def hub_config(request: DataRequest) -> str:
    """wmt14's configs are named <other language>-en, whichever way the pair translates."""
    other = request.pair.tgt if request.pair.src == "en" else request.pair.src
    return f"{other}-en"


def newstest_dir() -> Path:
    value = os.environ.get("NMT_NEWSTEST_DIR")
    return Path(value) if value else SHARED_NEWSTEST


def local_newstest(request: DataRequest, role: str) -> dict | None:
    """newstest2013/2014 of the pair as aligned text files, if this machine has both sides."""
    directory = newstest_dir() / hub_config(request)
    src, tgt = (directory / f"{NEWSTEST[role]}.{lang}" for lang in (request.pair.src, request.pair.tgt))
    return {"src": str(src), "tgt": str(tgt)} if src.is_file() and tgt.is_file() else None


def data(request: DataRequest) -> dict:
    """Hub corpora, or `<data-dir>/<config>` when a local copy (Dataset.save_to_disk) is given;
    validation and test from local newstest files where present."""
    config = hub_config(request)
    source = HUB
    if request.data_dir is not None:
        local = request.data_dir / config
        if request.fetch and not local.is_dir():
            raise DataError(f"{local}: not found (--data-dir holds one save_to_disk dataset per hub config, "
                            f"e.g. {request.data_dir}/de-en)")
        source = str(local)
    corpora = {role: {"hf": source, "hf_config": config, "split": split} for role, split in SPLITS.items()}
    for role in NEWSTEST:
        corpora[role] = local_newstest(request, role) or corpora[role]
    return corpora


RECIPE = Recipe(
    name="wmt14",
    directory=HERE,
    pairs=("en-de", "en-fr", "de-en", "fr-en"),
    models=("luong",),
    profiles=("gpu",),
    data=data,
    base=("data.yaml",),
    data_env="NMT_WMT14_DIR",
    data_help="directory of local copies: <dir>/de-en, <dir>/fr-en written by DatasetDict.save_to_disk",
    description=__doc__.split("\n\n")[0],
    test_name="newstest2014",
    downloads=False,  # `datasets` fetches the hub data itself
)

if __name__ == "__main__":
    sys.exit(main(RECIPE))
