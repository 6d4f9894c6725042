import json
from types import SimpleNamespace

import pytest
import torch
from safetensors import safe_open

from nmt.config import Config
from nmt.errors import NMTError
from nmt.model import build_model
from nmt.export import REQUIRED, TokenizerFiles, export_model_dir, inspect_export, load_model_dir
from tiny_models import random_batch, tiny_config, tiny_model



def make_config(**options) -> Config:
    return Config.model_validate({"data": {"name": "toy", "train": {"src": "train.de", "tgt": "train.en"}},
                                  "model": tiny_config(**options).model_dump()})


@pytest.fixture
def tokenizer_files(tmp_path) -> TokenizerFiles:
    folder = tmp_path / "tokenizers" / "toy"
    folder.mkdir(parents=True)
    (folder / "joint.model").write_bytes(b"sentencepiece model bytes")
    (folder / "tokenizer.json").write_text(json.dumps({"format": 1, "models": {"src": "joint.model", "tgt": "joint.model"}}))
    return TokenizerFiles(folder / "joint.model", folder / "joint.model")


@pytest.fixture
def exported(tmp_path, tokenizer_files):
    model = tiny_model(attention="bahdanau", tie_embeddings=True).eval()
    directory = export_model_dir(tmp_path / "run" / "export", make_config(attention="bahdanau", tie_embeddings=True),
                                 model, tokenizer_files)
    return directory, model


def log_probs(model, batch) -> torch.Tensor:
    out = model(batch.src, batch.src_lengths, batch.tgt_in)
    return torch.log_softmax(out.logits, -1)


def test_round_trip_gives_the_same_log_probs(exported):
    directory, model = exported
    loaded = load_model_dir(directory)
    assert not loaded.model.training
    batch = random_batch()
    torch.testing.assert_close(log_probs(loaded.model, batch), log_probs(model, batch), atol=0, rtol=0)
    assert loaded.model.decoder.output.weight is loaded.model.decoder.embedding.weight
    assert loaded.config.model == make_config(attention="bahdanau", tie_embeddings=True).model
    assert loaded.meta["parameters"] == sum(p.numel() for p in model.parameters())
    assert loaded.tokenizers.src.read_bytes() == b"sentencepiece model bytes"


def test_directory_holds_the_documented_files_and_a_tied_matrix_once(exported):
    directory, _ = exported
    for name in REQUIRED:
        assert (directory / name).is_file()
    with safe_open(str(directory / "model.safetensors"), "pt") as weights:
        names = set(weights.keys())
    assert len({"decoder.output.weight", "decoder.embedding.weight"} & names) == 1
    meta = json.loads((directory / "tokenizers" / "tokenizer.json").read_text())
    assert meta["models"] == {"src": "src.model", "tgt": "tgt.model"}
    assert not list(directory.parent.glob(".export*")), "no temporary directory is left behind"


@pytest.mark.parametrize("missing", REQUIRED)
def test_incomplete_directory_is_a_one_line_error_naming_the_file(exported, missing):
    directory, _ = exported
    (directory / missing).unlink()
    with pytest.raises(NMTError, match=f"incomplete model directory, missing {missing}") as err:
        load_model_dir(directory)
    assert "\n" not in str(err.value)


def test_missing_directory_is_an_error(tmp_path):
    with pytest.raises(NMTError, match="model directory not found"):
        load_model_dir(tmp_path / "nowhere")


def test_weights_that_do_not_fit_the_config_are_a_one_line_error(exported):
    directory, _ = exported
    text = (directory / "config.yaml").read_text().replace("hidden_size: 16", "hidden_size: 12")
    (directory / "config.yaml").write_text(text)
    with pytest.raises(NMTError, match="weights do not match config.yaml: .* has shape") as err:
        load_model_dir(directory)
    assert "\n" not in str(err.value)


def test_invalid_config_is_a_one_line_error_naming_the_field(exported):
    directory, _ = exported
    text = (directory / "config.yaml").read_text().replace("cell: lstm", "cell: transformer")
    (directory / "config.yaml").write_text(text)
    with pytest.raises(NMTError, match=r"config.yaml: model.encoder.cell: got 'transformer'") as err:
        inspect_export(directory)
    assert "\n" not in str(err.value)


def test_corrupt_safetensors_is_an_error(exported):
    directory, _ = exported
    (directory / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(NMTError, match="not a readable safetensors file"):
        load_model_dir(directory)


def test_export_replaces_an_existing_directory(exported, tokenizer_files):
    directory, _ = exported
    (directory / "stale.txt").write_text("old")
    other = tiny_model(seed=5, attention="general")
    export_model_dir(directory, make_config(attention="general"), other, tokenizer_files)
    assert not (directory / "stale.txt").exists()
    batch = random_batch()
    torch.testing.assert_close(log_probs(load_model_dir(directory).model, batch), log_probs(other.eval(), batch))


def test_accepts_the_tokenizer_object_of_nmt_prepare(tmp_path, tokenizer_files):
    tokenizer = SimpleNamespace(directory=tokenizer_files.src.parent,
                                meta={"models": {"src": "joint.model", "tgt": "joint.model"}})
    directory = export_model_dir(tmp_path / "export", make_config(), tiny_model(), tokenizer)
    assert (directory / "tokenizers" / "tgt.model").read_bytes() == b"sentencepiece model bytes"


def test_missing_tokenizer_file_is_an_error(tmp_path):
    files = TokenizerFiles(tmp_path / "src.model", tmp_path / "tgt.model")
    with pytest.raises(NMTError, match="tokenizer model not found"):
        export_model_dir(tmp_path / "export", make_config(), tiny_model(), files)
    assert not (tmp_path / "export").exists()


def test_a_real_tokenizer_survives_export_and_the_translator_loads_the_directory(tmp_path):
    from conftest import make_pairs
    from nmt.config import TokenizerConfig
    from nmt.tokenizer import TrainingTextWriter, train_tokenizer
    from nmt.decoding.translator import Translator

    writer = TrainingTextWriter(tmp_path, "toy corpus", "inputs")
    for pair in make_pairs(300, seed=3):
        writer.add(pair)
    tokenizer = train_tokenizer(tmp_path / "tok", writer.close(), TokenizerConfig(vocab_size=64), "de", "en")
    model = build_model(make_config().model, tokenizer.src_vocab_size, tokenizer.tgt_vocab_size)
    directory = export_model_dir(tmp_path / "export", make_config(), model, tokenizer)

    copy = load_model_dir(directory).tokenizer
    sentences = [s for s, _ in make_pairs(5, seed=4)]
    assert copy.encode_src(sentences) == tokenizer.encode_src(sentences)
    translations = Translator.load(directory)(sentences)
    assert len(translations) == 5 and all(isinstance(t, str) for t in translations)
