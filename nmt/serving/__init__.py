"""`nmt serve`: exported models behind an HTTP JSON API, with request batching and a web page."""
