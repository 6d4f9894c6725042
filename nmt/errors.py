"""User-facing errors.

Anything a user can cause (a bad file, a bad config value, a missing model) raises
`NMTError`; the CLI prints its message as one line and exits with status 2. Everything
else is a bug and keeps its traceback.
"""


class NMTError(Exception):
    """A user mistake, reported as one line naming the file, line or field."""


class ConfigError(NMTError):
    """A config key or value that does not validate."""


class DataError(NMTError):
    """A corpus, tokenizer or cache that cannot be used as given."""
