"""The progress bar of long work (translating files, preparing corpora): tqdm on stderr."""

from __future__ import annotations

import sys
from typing import Iterable, Optional


def progress_bar(total: Optional[int], quiet: bool = False):
    """tqdm on stderr; off with `quiet` or when stderr is not a terminal."""
    from tqdm.auto import tqdm  # imported when a bar is made: `nmt --help` stays quick

    return tqdm(total=total, unit=" lines", file=sys.stderr, disable=True if quiet else None, dynamic_ncols=True)


def progress_over(iterable: Iterable, enabled: bool = True, **kwargs):
    """`iterable` with a tqdm bar on stderr (`desc`, `unit` ...); off unless `enabled` and stderr
    is a terminal."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=None if enabled else True, file=sys.stderr, **kwargs)
