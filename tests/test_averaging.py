"""Checkpoint averaging: the kept pools, the mean of weights, `train.average` and `nmt average`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nmt.commands.main import main
from nmt.errors import NMTError
from nmt.training.averaging import POOLS, average_checkpoints, kept_checkpoints
from tests.test_train import tiny_run_config
from tests.tiny_models import tiny_model


def write_checkpoint(path: Path, seq2seq, architecture: dict | None = None, **hparams_changes) -> Path:
    """A checkpoint shaped like Lightning's: the module's state ("model." keys) and hyperparameters."""
    config = {"model": architecture or {"encoder": {"hidden_size": 8}},
              "data": {"name": "toy", "tokenizer": {"vocab_size": 60}}}
    hparams = {"config": config, "src_vocab_size": 23, "tgt_vocab_size": 23, **hparams_changes}
    state = {f"model.{key}": value for key, value in seq2seq.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": hparams, "global_step": 1}, path)
    return path


def test_averaging_two_identical_checkpoints_gives_the_same_model(tmp_path):
    model = tiny_model(seed=3)
    a = write_checkpoint(tmp_path / "a.ckpt", model)
    b = write_checkpoint(tmp_path / "b.ckpt", model)
    averaged = average_checkpoints([a, b]).model_state()
    for key, value in model.state_dict().items():
        assert torch.equal(averaged[key], value), key


def test_averaging_is_the_elementwise_mean_in_float32(tmp_path):
    one, two = tiny_model(seed=1), tiny_model(seed=2)
    averaged = average_checkpoints([write_checkpoint(tmp_path / "1.ckpt", one),
                                    write_checkpoint(tmp_path / "2.ckpt", two)]).model_state()
    for key, value in one.state_dict().items():
        expected = (value.double() + two.state_dict()[key].double()) / 2
        assert averaged[key].dtype == torch.float32
        torch.testing.assert_close(averaged[key], expected.float(), rtol=0, atol=0)


def test_checkpoints_of_different_architectures_are_one_error_naming_both_files(tmp_path):
    a = write_checkpoint(tmp_path / "a.ckpt", tiny_model(seed=1))
    b = write_checkpoint(tmp_path / "b.ckpt", tiny_model(seed=1), architecture={"encoder": {"hidden_size": 16}})
    with pytest.raises(NMTError, match=r"a\.ckpt and .*b\.ckpt: different architectures or tokenizers "
                                       r"\(model\.encoder\.hidden_size 8 vs 16\)"):
        average_checkpoints([a, b])


def test_checkpoints_of_different_tokenizers_are_refused(tmp_path):
    a = write_checkpoint(tmp_path / "a.ckpt", tiny_model(seed=1))
    b = write_checkpoint(tmp_path / "b.ckpt", tiny_model(seed=1), tgt_vocab_size=24)
    with pytest.raises(NMTError, match="tgt_vocab_size 23 vs 24"):
        average_checkpoints([a, b])


def test_a_file_that_is_not_a_checkpoint_is_one_error(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_text("not a checkpoint")
    with pytest.raises(NMTError, match="bad.ckpt: not a readable checkpoint"):
        average_checkpoints([bad])
    with pytest.raises(NMTError, match="missing.ckpt: checkpoint not found"):
        average_checkpoints([tmp_path / "missing.ckpt"])


def test_kept_checkpoints_are_ranked_by_metric_or_by_step(tmp_path):
    for pool, names in ((POOLS["best"], ["step-10-bleu-3.5000", "step-20-bleu-9.2500", "step-30-bleu-7.0000"]),
                        (POOLS["last"], ["step-30-bleu-7.0000", "step-40-bleu-1.0000", "step-50-bleu-2.0000"])):
        (tmp_path / pool).mkdir()
        for name in names:
            (tmp_path / pool / f"{name}.ckpt").write_bytes(b"")
    assert [c.step for c in kept_checkpoints(tmp_path, "best", 2, "max")] == [20, 30]
    assert [c.step for c in kept_checkpoints(tmp_path, "best", 2, "min")] == [10, 30]
    assert [c.step for c in kept_checkpoints(tmp_path, "last", 5, "max")] == [50, 40, 30]
    with pytest.raises(NMTError, match="no kept checkpoints"):
        kept_checkpoints(tmp_path / "elsewhere", "last", 2, "max")


def test_training_keeps_both_pools_and_exports_their_average(tmp_path):
    from nmt.export import load_model_dir

    config = tiny_run_config(tmp_path, max_steps=8, val_every_steps=2, keep_checkpoints=2, average="last")
    assert main(["train", "--config", str(config)]) == 0
    run = tmp_path / "runs" / "toy"
    latest = sorted((run / "checkpoints" / POOLS["last"]).glob("*.ckpt"))
    assert [p.name.split("-")[1] for p in latest] == ["6", "8"]  # the 2 latest validations
    assert len(list((run / "checkpoints" / POOLS["best"]).glob("*.ckpt"))) == 2
    expected = average_checkpoints(latest).model_state()
    exported = load_model_dir(run / "export").model.state_dict()
    for key, value in exported.items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0)

    # `nmt average` over the same run: the same weights, exported where asked
    assert main(["average", str(run), "--last", "2", "-o", str(tmp_path / "avg")]) == 0
    again = load_model_dir(tmp_path / "avg").model.state_dict()
    assert all(torch.equal(again[key], value) for key, value in exported.items())
    assert (tmp_path / "avg" / "shortlist.safetensors").is_file()
    assert main(["average", str(run), "--best", "5"]) == 0  # fewer kept than asked: all kept
    assert (run / "average-best-2" / "model.safetensors").is_file()


@pytest.mark.parametrize("argv, message", [
    (["RUN"], "say which checkpoints with --best K or --last K"),
    (["RUN", "--last", "0"], "--last must be at least 1"),
    (["A.ckpt", "B.ckpt"], "needs -o DIR"),
    (["A.ckpt", "--best", "2"], "list the files"),
])
def test_nmt_average_usage_mistakes_are_one_line_errors(tmp_path, capsys, argv, message):
    (tmp_path / "RUN").mkdir()
    (tmp_path / "RUN" / "config.yaml").write_text("data: {name: x, train: {src: a, tgt: b}}\n")
    argv = [str(tmp_path / a) if a in ("RUN", "A.ckpt", "B.ckpt") else a for a in argv]
    assert main(["average", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
