"""`nmt train`: a tiny end-to-end run, exact resume after SIGKILL, config errors."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from nmt.commands.main import main
from tests.conftest import make_pairs, write_parallel


def tiny_run_config(tmp_path: Path, **train) -> Path:
    """A config file for a toy reversal corpus and a small LSTM model with Luong attention."""
    corpus = tmp_path / "corpus"
    write_parallel(corpus, "train", make_pairs(240, seed=1, max_words=6))
    write_parallel(corpus, "val", make_pairs(20, seed=2, max_words=6))
    config = {
        "data": {
            "name": "toy",
            "train": {"src": str(corpus / "train.de"), "tgt": str(corpus / "train.en")},
            "valid": {"src": str(corpus / "val.de"), "tgt": str(corpus / "val.en")},
            "tokenizer": {"vocab_size": 60},
            "tokenizer_dir": str(tmp_path / "tokenizers"),
            "cache_dir": str(tmp_path / "cache"),
            "batch_tokens": 300,
            "num_proc": 1,
        },
        "model": {
            "encoder": {"emb_size": 16, "hidden_size": 16, "dropout": 0.2},
            "decoder": {"emb_size": 16, "hidden_size": 32, "dropout": 0.2},
        },
        "train": {"run_dir": str(tmp_path / "runs"), "threads": 1, "log_every_steps": 1,
                  "val_max_sentences": 8, **train},
        "search": {"beam_size": 1},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def logged_losses(run_dir: Path) -> dict[int, float]:
    """step -> train/loss from every logs/version_*/metrics.csv, later versions winning."""
    losses: dict[int, float] = {}
    for version in sorted((run_dir / "logs").glob("version_*"), key=lambda p: int(p.name.split("_")[1])):
        with open(version / "metrics.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("train/loss"):
                    losses[int(row["step"])] = float(row["train/loss"])
    return losses


def run_cli(config: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nmt", "train", "--config", str(config), *overrides],
                          capture_output=True, text=True, timeout=300, cwd=config.parent)


def test_train_writes_run_directory_and_loadable_export(tmp_path):
    config = tiny_run_config(tmp_path, max_steps=8, val_every_steps=4, checkpoint_every_steps=4)
    assert main(["train", "--config", str(config)]) == 0
    run = tmp_path / "runs" / "toy"
    assert (run / "config.yaml").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "checkpoints" / "best.ckpt").is_file()
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["global_step"] == 8
    assert sorted(logged_losses(run)) == list(range(8))

    from nmt.decoding.translator import Translator

    translator = Translator.load(run / "export")
    out = translator(["abc de", ""])
    assert len(out) == 2 and out[1] == ""
    assert (run / "export" / "shortlist.safetensors").is_file()  # the export's vocabulary shortlist
    assert len(Translator.load(run / "export", shortlist=(10, 5))(["abc de"])) == 1


# A `nmt train` process that SIGKILLs itself right after step KILL_AT: a checkpoint is on disk
# (saved every 2 steps, at step KILL_AT - 1 at the latest) and the run dies between two steps without
# any clean-up, the way a killed job dies, at the same step however busy the machine is.
KILL_AT = 7
SELF_KILL = f"""
import os, signal, sys
import lightning as L
from nmt.commands import train as command
from nmt.commands.main import main

class Kill(L.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == {KILL_AT}:
            os.kill(os.getpid(), signal.SIGKILL)

train = command.train
command.train = lambda *args, **kwargs: train(*args, **kwargs, callbacks=[Kill()])
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_resume_after_sigkill_continues_the_same_loss_curve(tmp_path):
    steps = ["train.max_steps=20", "train.checkpoint_every_steps=2", "train.val_bleu=false",
             "train.val_every_steps=10"]
    reference = tiny_run_config(tmp_path / "a")
    done = run_cli(reference, *steps)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = logged_losses(tmp_path / "a" / "runs" / "toy")

    config = tiny_run_config(tmp_path / "b")
    run_dir = tmp_path / "b" / "runs" / "toy"
    killed = subprocess.run([sys.executable, "-c", SELF_KILL, "train", "--config", str(config), *steps],
                            cwd=config.parent, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    killed_at = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert killed_at == KILL_AT - 1, "the last checkpoint before the kill"

    resumed = run_cli(config, *steps)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    got = logged_losses(run_dir)
    assert sorted(got) == sorted(expected)
    for step in expected:
        assert got[step] == pytest.approx(expected[step], rel=1e-5), f"step {step}"


def test_changed_model_config_refuses_to_resume(tmp_path, capsys):
    config = tiny_run_config(tmp_path, max_steps=2, val_bleu=False)
    assert main(["train", "--config", str(config)]) == 0
    assert main(["train", "--config", str(config), "model.decoder.hidden_size=48"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "model config differs" in err and "--fresh" in err


@pytest.mark.parametrize("override, message", [
    ("model.decoder.attention=luong_dot", "model.decoder.attention: got 'luong_dot', valid: none, bahdanau or luong"),
    ("model.init=glorot", "model.init: got 'glorot', valid: uniform, xavier or torch"),
    ("model.init_range=0", "model.init_range: Input should be greater than 0"),
    ("train.optimizer=adagrad", "train.optimizer: got 'adagrad'"),
    ("train.lrate=0.1", "train.lrate: unknown key (valid keys: run_dir,"),
    ("train.lr=-1", "train.lr: Input should be greater than 0"),
    ("train.schedule=inverse_sqrt", "train: schedule inverse_sqrt needs warmup_steps > 0"),
    ("nonsense", "expected KEY=VALUE"),
])
def test_config_errors_are_one_line_naming_the_field(tmp_path, capsys, override, message):
    config = tiny_run_config(tmp_path)
    assert main(["train", "--config", str(config), override]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_config_file_is_one_line_error(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: config file not found" in capsys.readouterr().err


@pytest.mark.slow
def test_two_process_ddp_trains_and_exports_once(tmp_path):
    """The same config under Lightning DDP (two CPU processes, gloo): no code changes needed."""
    config = tiny_run_config(tmp_path, max_steps=4, val_every_steps=2, checkpoint_every_steps=2)
    done = run_cli(config, "train.accelerator=cpu", "train.devices=2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("trained 4 steps") == 1  # one summary, from rank zero
    assert (tmp_path / "runs" / "toy" / "export" / "model.safetensors").is_file()
    assert torch.load(tmp_path / "runs" / "toy" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
