#!/usr/bin/env python3
"""IWSLT14 German -> English recipe: fairseq's data split, a joint 10k SentencePiece model,
a two-layer LSTM with Luong attention trained on a GPU to convergence, BLEU on the test set.

    python recipes/iwslt14/run.py                         # downloads and prepares data/iwslt14/
    python recipes/iwslt14/run.py --data-dir /data/iwslt14 --download

The data is the archive fairseq's examples/translation/prepare-iwslt14.sh downloads. It is
prepared the same way (tag lines dropped, every 23rd training pair held out for validation,
the five TED/TEDx dev and test sets joined as the test set) but kept cased and untokenized.
"""

from __future__ import annotations

import re
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's nmt, even where another copy is installed

from nmt.data.download import fetch  # noqa: E402
from nmt.errors import DataError  # noqa: E402
from nmt.recipe import DataRequest, Recipe, ensure_files, main  # noqa: E402

URL = "http://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz"
ARCHIVE = "de-en.tgz"
LANGS = ("de", "en")
TEST_SETS = ("IWSLT14.TED.dev2010", "IWSLT14.TEDX.dev2012", "IWSLT14.TED.tst2010", "IWSLT14.TED.tst2011",
             "IWSLT14.TED.tst2012")
VALID_EVERY = 23  # fairseq: awk 'NR % 23 == 0' moves these training pairs to validation
DOWNLOADS = ROOT / "data" / "iwslt14"
KEPT_TAGS = re.compile(r"</?(title|description)>")  # talk titles and descriptions are kept as text
SEGMENT = re.compile(r"\s*<seg id=\"?\d+\"?>\s*(.*?)\s*</seg>\s*")


def training_lines(text: str) -> list[str]:
    """train.tags.de-en.<lang>: sentences, plus titles and descriptions without their tags;
    every other line that is a tag (<url>, <keywords>, <talkid>, <speaker>, ...) is dropped."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("<") and not KEPT_TAGS.match(stripped):
            continue
        lines.append(KEPT_TAGS.sub("", stripped).strip())
    return lines


def segments(xml: str) -> list[str]:
    """The <seg id="N"> sentences of an IWSLT dev/test XML file, in order (fairseq also maps ’ to ')."""
    return [match.group(1).replace("\u2019", "'") for match in map(SEGMENT.fullmatch, xml.splitlines()) if match]


def read_archive(archive: Path) -> dict[str, dict[str, list[str]]]:
    """split -> lang -> lines, from fairseq's de-en.tgz (members found by file name)."""
    try:
        with tarfile.open(archive) as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}

            def read(name: str) -> str:
                if name not in members:
                    raise DataError(f"{archive}: no {name} in the archive")
                return tar.extractfile(members[name]).read().decode("utf-8")

            train = {lang: training_lines(read(f"train.tags.de-en.{lang}")) for lang in LANGS}
            test = {lang: [s for name in TEST_SETS for s in segments(read(f"{name}.de-en.{lang}.xml"))] for lang in LANGS}
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(f"{archive}: not a readable .tgz archive ({err})") from None
    for split, sides in (("train", train), ("test", test)):
        if len(sides["de"]) != len(sides["en"]):
            raise DataError(f"{archive}: {split} has {len(sides['de'])} German but {len(sides['en'])} English lines")
    held_out = {lang: [line for i, line in enumerate(train[lang], 1) if i % VALID_EVERY == 0] for lang in LANGS}
    kept = {lang: [line for i, line in enumerate(train[lang], 1) if i % VALID_EVERY] for lang in LANGS}
    return {"train": kept, "valid": held_out, "test": test}


def download_and_prepare(directory: Path, missing: list[Path]) -> None:
    archive = directory / ARCHIVE
    if not archive.is_file():
        print(f"downloading {URL} -> {archive}")
        fetch(URL, archive)
    for split, sides in read_archive(archive).items():
        for lang, lines in sides.items():
            path = directory / f"{split}.{lang}"
            partial = path.with_name(path.name + ".part")
            partial.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            partial.replace(path)
        print(f"  {split}: {len(sides['de'])} pairs")


def data(request: DataRequest) -> dict:
    directory = request.data_dir or DOWNLOADS
    files = [directory / f"{split}.{lang}" for split in ("train", "valid", "test") for lang in LANGS]
    ensure_files(request, directory, files, download_and_prepare)
    src, tgt = request.pair.src, request.pair.tgt
    return {split: {"src": str(directory / f"{split}.{src}"), "tgt": str(directory / f"{split}.{tgt}")}
            for split in ("train", "valid", "test")}


RECIPE = Recipe(
    name="iwslt14",
    directory=HERE,
    pairs=("de-en", "en-de"),
    models=("luong",),
    profiles=("gpu",),
    data=data,
    base=("data.yaml",),
    data_env="NMT_IWSLT14_DIR",
    data_help="directory for the prepared {train,valid,test}.{de,en} (and the downloaded de-en.tgz)",
    description=__doc__.split("\n\n")[0],
)

if __name__ == "__main__":
    sys.exit(main(RECIPE))
