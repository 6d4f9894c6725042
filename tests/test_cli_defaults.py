"""Command-line defaults and choices come from the typed config classes, never a second copy."""

from __future__ import annotations

import typing

import pytest

from nmt.commands.main import build_parser
from nmt.config import (ModelConfig, SearchConfig, ShortlistConfig, TokenizerConfig, TranslatorConfig, field_choices,
                        field_default)


def options(command: str, *argv: str):
    return build_parser(only=command).parse_args([command, *argv])


def action(command: str, flag: str):
    parser = build_parser(only=command)
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return next(a for a in sub._actions if flag in a.option_strings)


@pytest.mark.parametrize("command,argv", [("translate", ["model"]), ("evaluate", ["--hyp", "h", "--ref", "r"])])
def test_batching_defaults_are_the_translators(command, argv):
    args = options(command, *argv)
    assert (args.batch_size, args.max_src_tokens) == (TranslatorConfig().batch_size, TranslatorConfig().max_src_tokens)
    assert args.shortlist is None and args.int8 is False


def test_shortlist_given_alone_means_the_configs_sizes():
    assert options("translate", "model", "--shortlist").shortlist == ShortlistConfig()
    assert options("translate", "model", "--shortlist", "50,10").shortlist.sizes() == (50, 10, ShortlistConfig().min_rows)


@pytest.mark.parametrize("command,flag,section,field", [
    ("translate", "--length-penalty", SearchConfig, "length_penalty"),
    ("evaluate", "--length-penalty", SearchConfig, "length_penalty"),
    ("prepare", "--model-type", TokenizerConfig, "type"),
])
def test_choices_are_the_config_literals(command, flag, section, field):
    assert list(action(command, flag).choices) == list(typing.get_args(section.model_fields[field].annotation))


def test_search_options_left_out_keep_the_models_values():
    from nmt.commands.decoding_options import OPTIONS, search_config

    args = options("translate", "model")
    assert all(getattr(args, dest) is None for dest in OPTIONS)  # None: not given, the model decides
    model_search = SearchConfig(beam_size=7, alpha=0.2)
    assert search_config(model_search, args) == model_search


def test_field_helpers_read_the_class():
    assert field_choices(ModelConfig, "init") == ["uniform", "xavier", "torch"]
    assert field_default(TokenizerConfig, "vocab_size") == TokenizerConfig().vocab_size
    with pytest.raises(TypeError, match="not a Literal"):
        field_choices(TokenizerConfig, "vocab_size")
