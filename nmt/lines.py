"""Text files of one sentence per line: read as sacrebleu reads them, written atomically.

Every reader names the file and line of bytes that are not UTF-8, so a bad corpus or hypothesis
file is a one-line error, never a traceback.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Sequence

from nmt.errors import NMTError


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file (or .gz) with trailing whitespace removed, as sacrebleu reads them."""
    path = Path(path)
    if not path.is_file():
        raise NMTError(f"{path}: file not found")
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as err:
        raise NMTError(f"{path}: cannot read: {err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise NMTError(f"{path}: line {line}: not UTF-8 ({err.reason} at byte {err.start})") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return [line.rstrip() for line in lines]


def read_aligned(primary: Path, others: Sequence[Path]) -> tuple[list[str], list[list[str]]]:
    """`primary` and `others` read and checked to have the same number of lines."""
    lines = read_lines(primary)
    if not lines:
        raise NMTError(f"{primary}: no lines to score")
    streams = []
    for path in others:
        stream = read_lines(path)
        if len(stream) != len(lines):
            raise NMTError(f"{primary} has {len(lines)} lines but {path} has {len(stream)}")
        streams.append(stream)
    return lines, streams


def write_lines(path: Path, lines: Sequence[str]) -> None:
    """One line each, UTF-8, written beside `path` and renamed onto it (never half a file)."""
    path = Path(path)
    work = path.with_name(f".{path.name}.tmp")
    try:
        work.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        work.replace(path)
    except OSError as err:
        work.unlink(missing_ok=True)
        raise NMTError(f"{path}: cannot write ({err.strerror})") from None


# ----------------------------------------------------------------------------- streams


@dataclass
class Source:
    stream: BinaryIO
    name: str  # for error messages
    lines: Optional[int]  # known for files (progress bar total), not for a pipe


@contextlib.contextmanager
def open_source(path: Optional[Path]) -> Iterator[Source]:
    if path is None:
        yield Source(sys.stdin.buffer, "<stdin>", None)
        return
    if not path.is_file():
        raise NMTError(f"{path}: file not found")
    with open(path, "rb") as stream:
        count = sum(1 for _ in numbered_lines(Source(stream, str(path), None)))  # bad bytes stop us before any work
        stream.seek(0)
        yield Source(stream, str(path), count)


def numbered_lines(source: Source) -> Iterator[str]:
    """The lines of `source` as text, without line ends; bytes that are not UTF-8 name the line."""
    for number, raw in enumerate(source.stream, 1):
        try:
            yield raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as err:
            raise NMTError(f"{source.name}: line {number}: not UTF-8 ({err.reason} at byte {err.start} of the line)") from None


@contextlib.contextmanager
def open_output(path: Optional[Path]) -> Iterator[BinaryIO]:
    """stdout, or a file written beside `path` and renamed onto it only when all went well."""
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    work = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(work, "wb") as stream:
            yield stream
        os.replace(work, path)
    except OSError as err:
        raise NMTError(f"{path}: cannot write ({err.strerror})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            work.unlink()
