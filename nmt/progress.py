"""The progress bar of long work (translating files, preparing corpora): tqdm on stderr."""

from __future__ import annotations

import sys
from typing import Optional


def progress_bar(total: Optional[int], quiet: bool = False):
    """tqdm on stderr; off with `quiet` or when stderr is not a terminal."""
    from tqdm.auto import tqdm  # imported when a bar is made: `nmt --help` stays quick

    return tqdm(total=total, unit=" lines", file=sys.stderr, disable=True if quiet else None, dynamic_ncols=True)
