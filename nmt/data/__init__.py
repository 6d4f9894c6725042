"""From parallel text to token-budget batches: corpora, cleaning, cache, batching."""
