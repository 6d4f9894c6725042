"""The interactive prompt of `nmt translate`: type a sentence, read its translation at once.

`repl` is the loop alone, over any `read` and `write`, so tests can feed it lines; `line_history`
adds readline editing and a history file kept between sessions. Ctrl-D (end of input) leaves the
loop; Ctrl-C drops the line being typed, or stops the translation running, and prompts again.
Lines starting with ':' are commands that change the decoding options between sentences
(`run_command`; `:help` lists them).
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Optional

from nmt.errors import NMTError

if TYPE_CHECKING:
    from nmt.config import SearchConfig

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


# ----------------------------------------------------------------------------- prompt commands

HELP = """commands (a line starting with ':'; start a sentence with '::' to translate ':...'):
  :help                 this list
  :options              the decoding options in force
  :beam K               beam size (1: greedy)
  :nbest N              show the N best translations (N <= beam, or any N with :sample on)
  :align on|off         under each translation, the source piece each output piece attends to most
  :prefix TEXT          every translation starts with TEXT (post-editing); ':prefix' alone clears it
  :length-penalty P     gnmt | length | none;  :alpha A  the gnmt exponent
  :coverage-penalty B   GNMT coverage penalty weight (0: off);  :no-repeat-ngram N  (0: off)
  :sample on|off        sample instead of search;  :temperature T  :top-k K  :top-p P  :seed N
  :min-len N  :max-len N  :max-len-ratio R  :max-len-const C  :early-stop on|off"""


@dataclass
class PromptSettings:
    """What the prompt's commands change between sentences."""

    config: "SearchConfig"
    nbest: bool = False  # show the n-best list with scores
    align: bool = False  # show the alignment under each translation
    prefix: str = ""  # forced start of every translation
    can_align: bool = True  # the model has attention

    def describe(self) -> str:
        c = self.config
        parts = [f"beam {c.beam_size}", f"nbest {c.nbest}", f"length-penalty {c.length_penalty}", f"alpha {c.alpha}",
                 f"coverage-penalty {c.coverage_penalty}", f"no-repeat-ngram {c.no_repeat_ngram}",
                 f"sample {'on' if c.sampling else 'off'}"]
        if c.sampling:
            parts += [f"temperature {c.temperature}", f"top-k {c.top_k}", f"top-p {c.top_p}", f"seed {c.seed}"]
        parts += [f"align {'on' if self.align else 'off'}", f"prefix {self.prefix!r}" if self.prefix else "no prefix"]
        return ", ".join(parts)


def is_command(line: str) -> bool:
    return line.lstrip().startswith(":") and not line.lstrip().startswith("::")


def sentence_of(line: str) -> str:
    """The text to translate: '::text' stands for ':text'."""
    stripped = line.lstrip()
    return stripped[1:] if stripped.startswith("::") else line


def run_command(line: str, settings: PromptSettings) -> list[str]:
    """Apply one ':command [value]' to `settings`; returns what the prompt prints. A bad command
    or value is an `NMTError` naming it (the prompt reports it and goes on)."""
    from nmt.commands.decoding_options import FLAGS
    from nmt.config import SearchConfig, format_validation_error
    from pydantic import ValidationError

    name, _, value = line.strip()[1:].partition(" ")
    name, value = name.strip().lower(), value.strip()
    if name in ("help", "h", "?"):
        return HELP.splitlines()
    if name in ("options", "show"):
        return [settings.describe()]
    if name == "prefix":
        settings.prefix = value
        return [f"prefix {value!r}" if value else "no prefix"]
    if name == "align":
        settings.align = _switch(name, value)
        if settings.align and not settings.can_align:
            settings.align = False
            raise NMTError(":align: the model has no attention (model.decoder.attention: none)")
        return [f"align {'on' if settings.align else 'off'}"]
    fields = {flag[2:]: field for field, flag in FLAGS.items()}
    field = fields.get(name)
    if field is None:
        raise NMTError(f":{name}: unknown command (:help lists them)")
    if not value:
        raise NMTError(f":{name} needs a value (:help lists them)")
    raw = _switch(name, value) if field in ("sampling", "early_stop") else value
    try:
        settings.config = SearchConfig.model_validate(settings.config.model_dump() | {field: raw})
    except ValidationError as err:
        message = format_validation_error(err, SearchConfig) if err.errors()[0]["loc"] else str(err.errors()[0]["msg"])
        raise NMTError(f":{name} {value}: {message.split(': ', 1)[-1]}") from None
    if field == "nbest":
        settings.nbest = settings.config.nbest > 1
    return [settings.describe()]


def _switch(name: str, value: str) -> bool:
    if value.lower() in ("on", "true", "yes", "1"):
        return True
    if value.lower() in ("off", "false", "no", "0"):
        return False
    raise NMTError(f":{name} takes on or off, not {value!r}")
