"""The command-line layer: one thin module per `nmt` command (parse arguments, call the library,
print), dispatched by `main.py`; `decoding_options.py` and `interactive.py` hold what two commands share.
Nothing outside this folder imports it (tests/test_architecture.py)."""
