"""nmt: recurrent encoder-decoder machine translation."""

__version__ = "0.1.0"
