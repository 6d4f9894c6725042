"""The interactive prompt of `nmt translate`: type a sentence, read its translation at once.

`repl` is the loop alone, over any `read` and `write`, so tests can feed it lines; `line_history`
adds readline editing and a history file kept between sessions. Ctrl-D (end of input) leaves the
loop; Ctrl-C drops the line being typed, or stops the translation running, and prompts again.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Callable, Iterator, Optional

from nmt.errors import NMTError

PROMPT = "> "
HISTORY_LENGTH = 1000


def default_history_file() -> Path:
    """$XDG_CACHE_HOME/nmt/translate_history, ~/.cache/nmt/translate_history by default."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "nmt" / "translate_history"


@contextlib.contextmanager
def line_history(path: Optional[Path]) -> Iterator[None]:
    """readline editing for `input()`, with the history read from and saved to `path`.

    History is a convenience: an unreadable or unwritable file, or a Python without readline,
    only loses it.
    """
    try:
        import readline
    except ImportError:
        yield
        return
    if path is not None:
        with contextlib.suppress(OSError):
            readline.read_history_file(path)
    readline.set_history_length(HISTORY_LENGTH)
    try:
        yield
    finally:
        if path is not None:
            with contextlib.suppress(OSError):
                path.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(path)


def repl(respond: Callable[[str], list[str]], read: Optional[Callable[[str], str]] = None,
         write: Callable[[str], None] = print, warn: Optional[Callable[[str], None]] = None) -> int:
    """Prompt, read a line, write `respond(line)`, until end of input; returns the exit status.

    `read` defaults to `input` (readline's, once `line_history` is active). A blank line is
    skipped. A user mistake in one line (`NMTError`, e.g. an unwritable plot file) is reported
    through `warn` and the loop goes on.
    """
    read = read or input
    warn = warn or (lambda message: print(message, file=sys.stderr, flush=True))
    while True:
        try:
            line = read(PROMPT)
        except EOFError:  # Ctrl-D
            write("")
            return 0
        except KeyboardInterrupt:  # Ctrl-C while typing: drop the line
            write("")
            continue
        if not line.strip():
            continue
        try:
            for output in respond(line):
                write(output)
        except KeyboardInterrupt:
            warn("interrupted")
        except NMTError as err:
            warn(f"error: {err}")
