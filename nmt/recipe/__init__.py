"""The recipe driver: data -> tokenizers -> train -> translate the test set -> BLEU, for every
`recipes/<corpus>/run.py`. A recipe declares a `Recipe` and calls `main`."""

from nmt.recipe.driver import DataRequest, Recipe, ensure_files, main
from nmt.recipe.plan import Pair

__all__ = ["DataRequest", "Pair", "Recipe", "ensure_files", "main"]
