from __future__ import annotations

import hashlib
import json

import pytest

from nmt.config import TokenizerConfig
from nmt.errors import DataError
from nmt.tokenizer import METADATA, Tokenizer, TrainingTextWriter, train_tokenizer
from nmt.vocab import BOS_ID, BOS_PIECE, EOS_ID, EOS_PIECE, PAD_ID, PAD_PIECE, UNK_ID, UNK_PIECE

from conftest import make_pairs

PAIRS = make_pairs(300, seed=3)


def training_text(tmp_path, pairs=PAIRS, inputs="inputs-1"):
    work = tmp_path / "work"
    work.mkdir(parents=True, exist_ok=True)
    writer = TrainingTextWriter(work, "toy corpus", inputs)
    for pair in pairs:
        writer.add(pair)
    return writer.close()


def train(tmp_path, force=False, inputs="inputs-1", **options) -> Tokenizer:
    config = TokenizerConfig(**{"vocab_size": 64, **options})
    return train_tokenizer(tmp_path / "tok", training_text(tmp_path, inputs=inputs), config, "de", "en", force)


@pytest.mark.parametrize("kind", ["unigram", "bpe"])
def test_round_trip_on_normal_text(tmp_path, kind):
    tokenizer = train(tmp_path, type=kind)
    sources, targets = [s for s, _ in PAIRS[:50]], [t for _, t in PAIRS[:50]]
    assert tokenizer.decode_src(tokenizer.encode_src(sources)) == sources
    assert tokenizer.decode_tgt(tokenizer.encode_tgt(targets)) == targets


def test_special_ids_are_fixed_and_dropped_when_decoding(tmp_path):
    tokenizer = train(tmp_path)
    model = tokenizer.src_model
    assert [model.id_to_piece(i) for i in (PAD_ID, UNK_ID, BOS_ID, EOS_ID)] == [
        PAD_PIECE, UNK_PIECE, BOS_PIECE, EOS_PIECE]
    ids = tokenizer.encode_tgt(["abc"])[0]
    assert tokenizer.decode_tgt([[BOS_ID] + ids + [EOS_ID, PAD_ID, PAD_ID]]) == ["abc"]
    assert min(ids) > EOS_ID


def test_joint_is_one_model_and_separate_is_one_per_language(tmp_path):
    joint = train(tmp_path / "j", target_pieces="all")
    assert joint.joint and joint.encode_src(["abc def"]) == joint.encode_tgt(["abc def"])
    separate = train(tmp_path / "s", joint=False, vocab_size=60)
    assert not separate.joint
    assert sorted(p.name for p in separate.directory.glob("*.model")) == ["src.model", "tgt.model"]
    assert separate.src_vocab_size == separate.tgt_vocab_size == 60


def test_metadata_holds_options_corpus_and_training_text_sha256(tmp_path):
    tokenizer = train(tmp_path, vocab_size=70)
    meta = json.loads((tokenizer.directory / METADATA).read_text())
    assert meta["options"] == TokenizerConfig(vocab_size=70).model_dump()
    assert meta["corpus"] == "toy corpus" and meta["training_text"]["sentences"] == len(PAIRS)
    src = "".join(s + "\n" for s, _ in PAIRS).encode()
    tgt = "".join(t + "\n" for _, t in PAIRS).encode()
    expected = hashlib.sha256(hashlib.sha256(src).digest() + hashlib.sha256(tgt).digest()).hexdigest()
    assert meta["training_text"]["sha256"] == expected
    assert meta["special_ids"] == {"pad": 0, "unk": 1, "bos": 2, "eos": 3}


def test_same_inputs_reuse_the_trained_model(tmp_path):
    first = train(tmp_path)
    model = first.directory / "joint.model"
    stamp = model.stat().st_mtime_ns
    (first.directory / "marker").write_text("still here")
    train(tmp_path)
    assert model.stat().st_mtime_ns == stamp and (first.directory / "marker").exists()


@pytest.mark.parametrize("change", [{"inputs": "inputs-2"}, {"vocab_size": 70}])
def test_different_inputs_refuse_to_overwrite_without_force(tmp_path, change):
    train(tmp_path)
    with pytest.raises(DataError, match="use --force to overwrite it") as err:
        train(tmp_path, **change)
    assert "\n" not in str(err.value)
    retrained = train(tmp_path, force=True, **change)
    assert retrained.src_vocab_size == change.get("vocab_size", 64)


def test_vocabulary_larger_than_the_corpus_allows_is_a_one_line_error(tmp_path):
    with pytest.raises(DataError, match=r"vocab_size: 5000 is more pieces than this corpus has"):
        train(tmp_path, vocab_size=5000)
    assert not (tmp_path / "tok").exists()  # nothing half-written


def test_export_copies_the_models_and_loads_from_the_copy(tmp_path):
    tokenizer = train(tmp_path, joint=False, vocab_size=60)
    exported = tokenizer.export(tmp_path / "model" / "tokenizers")
    assert sorted(p.name for p in exported.directory.iterdir()) == sorted([METADATA, "src.model", "tgt.model"])
    text = [s for s, _ in PAIRS[:5]]
    assert exported.encode_src(text) == tokenizer.encode_src(text)
    assert exported.fingerprint == tokenizer.fingerprint


def test_loading_a_directory_without_tokenizer_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no tokenizer here"):
        Tokenizer.load(tmp_path)


UPPER = [(s, t.upper()) for s, t in PAIRS]  # a target script the source never uses


def test_target_vocabulary_keeps_only_pieces_seen_in_training_targets(tmp_path):
    config = TokenizerConfig(vocab_size=120)
    text = training_text(tmp_path, pairs=UPPER)
    seen = train_tokenizer(tmp_path / "seen", text, config, "de", "en")
    full = train_tokenizer(tmp_path / "all", text, config.model_copy(update={"target_pieces": "all"}), "de", "en")
    pieces = {i for ids in full.encode_tgt([t for _, t in UPPER]) for i in ids}
    assert seen.tgt_vocab_size == len(pieces | {PAD_ID, UNK_ID, BOS_ID, EOS_ID}) < full.tgt_vocab_size == 120
    assert seen.src_vocab_size == 120  # the source side is untouched
    targets = [t for _, t in UPPER[:40]]
    ids = seen.encode_tgt(targets)
    assert max(i for row in ids for i in row) < seen.tgt_vocab_size
    assert seen.decode_tgt(ids) == targets
    assert seen.tgt_pieces(ids[0]) == [full.tgt_model.id_to_piece(i) for i in full.encode_tgt(targets[:1])[0]]


def test_target_piece_never_seen_in_training_becomes_unk(tmp_path):
    tokenizer = train_tokenizer(tmp_path / "tok", training_text(tmp_path, pairs=UPPER),
                                TokenizerConfig(vocab_size=120), "de", "en")
    lower = [s for s, _ in UPPER[:5]]  # pieces the target side never had
    src_ids = tokenizer.encode_src(lower)
    tgt_ids = tokenizer.encode_tgt(lower)
    assert UNK_ID not in {i for row in src_ids for i in row}
    assert UNK_ID in {i for row in tgt_ids for i in row}
    assert [BOS_ID, EOS_ID, PAD_ID] == tokenizer.to_piece_ids([BOS_ID, EOS_ID, PAD_ID])


def test_target_vocabulary_travels_with_export(tmp_path):
    tokenizer = train_tokenizer(tmp_path / "tok", training_text(tmp_path, pairs=UPPER),
                                TokenizerConfig(vocab_size=120), "de", "en")
    copy = tokenizer.export(tmp_path / "export")
    assert copy.tgt_vocab_size == tokenizer.tgt_vocab_size
    assert copy.fingerprint == tokenizer.fingerprint
