"""The command-line layer: one thin module per `nmt` command (parse arguments, call the library,
print), dispatched by `main.py`; `decoding_options.py` holds the decoding options that translate
and evaluate share, `interactive.py` translate's prompt.
Nothing outside this folder imports it (tests/test_architecture.py)."""
