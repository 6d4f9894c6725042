import re

import pytest
import sentencepiece as spm
import yaml

from nmt.commands.main import main
from nmt.config import load_config
from nmt.export import TokenizerFiles, export_model_dir
from nmt.model.summary import summarize
from nmt.model import build_model
from tiny_models import tiny_config



def write_config(tmp_path, **model) -> str:
    tree = {"data": {"name": "toy", "train": {"src": "a.de", "tgt": "a.en"}, "tokenizer_dir": str(tmp_path / "tok"),
                     "tokenizer": {"vocab_size": 300}},
            "model": model}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tree))
    return str(path)


def reported_total(text: str) -> int:
    return int(re.search(r"Total params: ([\d,]+)", text).group(1).replace(",", ""))


@pytest.mark.parametrize("options", [
    dict(cell="lstm", attention="general"),
    dict(cell="gru", attention="bahdanau", layers=2),
    dict(cell="rnn", attention="none", bidirectional=False),
    dict(cell="lstm", attention="dot", tie_embeddings=True),
])
def test_component_counts_sum_to_the_model_total(options):
    model = build_model(tiny_config(**options), 30, 40)
    rows = summarize(model)
    assert sum(r.params for r in rows) == sum(p.numel() for p in model.parameters())
    assert not any(r.component == "other" for r in rows), "every parameter belongs to a named component"


def test_shared_embeddings_count_once():
    cfg = tiny_config(tie_embeddings=True)
    cfg.tie_src_tgt_embeddings = True
    model = build_model(cfg, 30, 30)
    rows = {r.component: r for r in summarize(model)}
    assert rows["target embedding"].params == 0 and "shared" in rows["target embedding"].note
    assert rows["output layer (real tokens only)"].params == 30  # the bias; the weight is the embedding


def test_gate_blocks_show_the_1_3_4_ratio():
    per_cell = {}
    for cell in ("rnn", "gru", "lstm"):
        rows = summarize(build_model(tiny_config(cell=cell), 30, 30))
        encoder = next(r for r in rows if r.component.startswith("encoder") and r.blocks)
        per_cell[cell] = encoder
    assert per_cell["gru"].params == 3 * per_cell["rnn"].params
    assert per_cell["lstm"].params == 4 * per_cell["rnn"].params
    block = per_cell["rnn"].params
    assert [per_cell[c].blocks for c in ("rnn", "gru", "lstm")] == [f"{n} x {block:,}" for n in (1, 3, 4)]


def test_info_on_a_config_without_tokenizer_uses_the_configured_vocab_size(tmp_path, capsys):
    path = write_config(tmp_path, decoder={"attention": "none"})
    assert main(["info", path]) == 0
    text = capsys.readouterr().out
    model = build_model(load_config(path).model, 300, 300)
    assert reported_total(text) == sum(p.numel() for p in model.parameters())
    assert "from data.tokenizer.vocab_size (no tokenizer at" in text
    assert "4 x " in text and "(N, 300)" in text


def test_info_reads_vocabulary_sizes_from_an_existing_tokenizer(tmp_path, capsys):
    folder = tmp_path / "tok" / "toy"
    folder.mkdir(parents=True)
    text_file = tmp_path / "text.txt"
    text_file.write_text("\n".join(f"ein kleiner satz nummer {i} mit wörtern" for i in range(200)))
    spm.SentencePieceTrainer.train(input=str(text_file), model_prefix=str(folder / "joint"), vocab_size=37,
                                   pad_id=0, unk_id=1, bos_id=2, eos_id=3, minloglevel=2)
    (folder / "tokenizer.json").write_text('{"models": {"src": "joint.model", "tgt": "joint.model"}}')
    assert main(["info", write_config(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert f"vocabulary: source 37, target 37 (from tokenizer {folder})" in text


def test_vocabulary_options_override(tmp_path, capsys):
    assert main(["info", write_config(tmp_path), "--src-vocab", "50", "--tgt-vocab", "60"]) == 0
    text = capsys.readouterr().out
    assert "vocabulary: source 50, target 60 (from --src-vocab/--tgt-vocab)" in text
    assert "(N, 60)" in text


def test_info_on_an_exported_model_directory(tmp_path, capsys):
    config = load_config(write_config(tmp_path, encoder={"emb_size": 8, "hidden_size": 8},
                                      decoder={"emb_size": 8, "hidden_size": 16}))
    model = build_model(config.model, 31, 33)
    (tmp_path / "x.model").write_bytes(b"spm")
    directory = export_model_dir(tmp_path / "export", config, model, TokenizerFiles(tmp_path / "x.model", tmp_path / "x.model"))
    assert main(["info", str(directory)]) == 0
    text = capsys.readouterr().out
    assert "vocabulary: source 31, target 33" in text and "meta.json" in text
    assert reported_total(text) == sum(p.numel() for p in model.parameters())


def test_missing_path_is_a_one_line_error(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nmt info: error:") and err.count("\n") == 1


def test_a_seen_pieces_tokenizer_gives_the_models_own_target_vocabulary(tmp_path, capsys):
    """`target_pieces: seen` keeps only the target pieces of the training text: the model's output
    layer, and so `nmt info`'s count, has that many rows, not the SentencePiece model's."""
    from tests.conftest import make_pairs, train_toy_tokenizer

    tokenizer = train_toy_tokenizer(tmp_path / "tok" / "toy", make_pairs(300, seed=1, max_words=6), vocab_size=80)
    assert tokenizer.tgt_vocab_size < tokenizer.tgt_model.vocab_size(), "the test needs unseen pieces"
    assert main(["info", write_config(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert f"vocabulary: source 80, target {tokenizer.tgt_vocab_size} (from tokenizer {tmp_path / 'tok' / 'toy'})" in text
    assert f"(N, {tokenizer.tgt_vocab_size})" in text
