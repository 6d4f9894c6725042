"""Several config files merged in order: later files override single keys, errors name the files."""

from __future__ import annotations

import pytest
import yaml

from nmt.commands.main import build_parser
from nmt.config import load_config, merge_trees
from nmt.commands.prepare import data_config_from_args
from nmt.errors import ConfigError


def test_mappings_merge_key_by_key_and_other_values_replace():
    base = {"model": {"encoder": {"hidden_size": 256, "layers": 1}}, "train": {"betas": [0.9, 0.999]}}
    update = {"model": {"encoder": {"layers": 2}}, "train": {"betas": [0.8, 0.9]}, "search": {"beam_size": 4}}
    merged = merge_trees(base, update)
    assert merged == {"model": {"encoder": {"hidden_size": 256, "layers": 2}}, "train": {"betas": [0.8, 0.9]},
                      "search": {"beam_size": 4}}
    assert base["model"]["encoder"]["layers"] == 1  # inputs untouched


def write(path, tree):
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path):
    data = write(tmp_path / "data.yaml", {"data": {"name": "toy", "train": {"src": "a.de", "tgt": "a.en"}}})
    model = write(tmp_path / "model.yaml", {"model": {"decoder": {"attention": "none", "hidden_size": 64}}})
    profile = write(tmp_path / "cpu.yaml", {"model": {"decoder": {"hidden_size": 32}}, "train": {"max_minutes": 5}})
    return data, model, profile


def test_later_files_override_earlier_ones_then_overrides_apply(files):
    config = load_config(files, ["train.lr=0.002"])
    assert config.model.decoder.attention == "none" and config.model.decoder.hidden_size == 32
    assert config.train.max_minutes == 5 and config.train.lr == 0.002 and config.data.name == "toy"
    assert load_config(files[0]).model.decoder.attention == "luong"  # one file still works alone


def test_an_error_in_merged_files_names_them_all(files, tmp_path):
    bad = write(tmp_path / "bad.yaml", {"model": {"decoder": {"attention": "luong_dot"}}})
    with pytest.raises(ConfigError) as error:
        load_config([*files, bad])
    message = str(error.value)
    assert "data.yaml + " in message and "bad.yaml: model.decoder.attention: got 'luong_dot'" in message
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        load_config([files[0], tmp_path / "missing.yaml"])


def test_prepare_and_train_take_config_several_times(files):
    args = build_parser("prepare").parse_args(["prepare", "--config", str(files[0]), "--config", str(files[2])])
    assert data_config_from_args(args).name == "toy"
    args = build_parser("train").parse_args(["train", "--config", str(files[0]), "--config", str(files[1])])
    assert [p.name for p in args.config] == ["data.yaml", "model.yaml"]
