"""nmt: recurrent encoder-decoder machine translation.

`nmt.Translator` is the one text-to-text path (`nmt.decoding.translator`); it is imported on first
use, so `import nmt` and `nmt --help` stay quick. The layers: docs/architecture.md.
"""

from nmt import deprecated

__version__ = "0.2.0"
__all__ = ["Translator", "__version__"]

deprecated.install()


def __getattr__(name: str):
    if name == "Translator":
        from nmt.decoding.translator import Translator

        return Translator
    raise AttributeError(f"module 'nmt' has no attribute {name!r}")
