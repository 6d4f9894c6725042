"""Fetching a corpus file over HTTP(S), for recipes whose data is not on the machine yet.

A file is streamed to a temporary name beside its destination and renamed into place only when
complete, so an interrupted download never leaves a truncated corpus that looks finished. With
`gunzip=True` the `.gz` stream is decompressed on the way. Every failure (network, HTTP status,
a corrupt archive, a full disk) is one `DataError` line naming the URL.
"""

from __future__ import annotations

import gzip
import shutil
import zlib
from pathlib import Path
from typing import IO
from urllib.error import URLError
from urllib.request import Request, urlopen

from tqdm import tqdm

from nmt.errors import DataError

TIMEOUT = 60  # seconds without a byte before giving up
CHUNK = 1 << 20


def fetch(url: str, destination: Path, gunzip: bool = False, progress: bool = True) -> Path:
    """Download `url` to `destination` (decompressing a gzip stream if asked); returns the path."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        with urlopen(Request(url, headers={"User-Agent": "nmt"}), timeout=TIMEOUT) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=destination.name, disable=not progress,
                      leave=False) as bar, open(partial, "wb") as out:
                source: IO[bytes] = _Counting(response, bar)
                shutil.copyfileobj(gzip.GzipFile(fileobj=source) if gunzip else source, out, CHUNK)
        partial.replace(destination)
    except (URLError, OSError, EOFError, zlib.error) as err:  # HTTPError and gzip.BadGzipFile included
        partial.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise DataError(f"{url}: download failed ({reason})") from None
    return destination


class _Counting:
    """A read-only stream that advances a progress bar by the compressed bytes read."""

    def __init__(self, stream: IO[bytes], bar: tqdm):
        self.stream, self.bar = stream, bar

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.bar.update(len(data))
        return data
