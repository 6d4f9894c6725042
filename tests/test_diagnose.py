"""`nmt diagnose gradients`: the step-by-step encoder, the measured gradients, the command and
the training callback, on tiny models."""

from __future__ import annotations

import math
import re

import pytest
import torch

from nmt.commands.main import main
from nmt.config import ModelConfig
from nmt.data.batch import collate
from nmt.diagnostics.gradients import by_distance, gradient_profile, state_gradients
from nmt.diagnostics.recall_task import RecallTask, compare_cells
from nmt.diagnostics.stepwise import StepwiseRNN, stepwise
from nmt.model.seq2seq import build_model


PNG = b"\x89PNG\r\n\x1a\n"


def tiny_model(cell: str, attention: str = "luong", layers: int = 2, bidirectional: bool = True, vocab: int = 13):
    torch.manual_seed(0)
    config = ModelConfig.model_validate({
        "encoder": {"cell": cell, "emb_size": 6, "hidden_size": 5, "layers": layers,
                    "bidirectional": bidirectional, "dropout": 0.2},
        "decoder": {"emb_size": 6, "hidden_size": 7, "dropout": 0.2, "attention": attention},
    })
    return build_model(config, vocab, vocab)


def tiny_batch(seed: int = 0, vocab: int = 13):
    rng = torch.Generator().manual_seed(seed)
    lengths = [6, 2, 4, 1]
    pairs = [(torch.randint(4, vocab, (n,), generator=rng).tolist(), torch.randint(4, vocab, (3,), generator=rng).tolist())
             for n in lengths]
    return collate(pairs)


# ----------------------------------------------------------------------------- measurement


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_stepwise_encoder_computes_what_the_encoder_computes(cell):
    model = tiny_model(cell).eval()
    batch = tiny_batch()
    expected = model.encoder(batch.src, batch.src_lengths)
    with stepwise(model.encoder) as directions:
        got = model.encoder(batch.src, batch.src_lengths)
        assert [d.name for d in directions] == ["layer 1 forward", "layer 1 backward", "layer 2 forward", "layer 2 backward"]
        assert all(len(d.states) == batch.src.size(1) for d in directions)
    torch.testing.assert_close(got.states, expected.states)
    torch.testing.assert_close(got.final[0], expected.final[0])
    assert not any(isinstance(m, StepwiseRNN) for m in model.modules())  # torch's modules are back


def test_rnn_state_gradients_are_the_total_derivative_through_time():
    """For h_t = tanh(W x_t + U h_{t-1} + b), dL/dx_t = W^T ((1 - h_t^2) * dL/dh_t), where dL/dh_t
    must include every later step. dL/dx_t comes from the fused torch encoder, independently."""
    model = tiny_model("rnn", attention="none", layers=1, bidirectional=False).eval()
    batch = tiny_batch()
    measured = state_gradients(model, batch)
    embedded = {}
    handle = model.encoder.embedding.register_forward_hook(lambda m, i, out: embedded.setdefault("x", out))
    out = model(batch.src, batch.src_lengths, batch.tgt_in)
    handle.remove()
    from nmt.model.loss import sequence_loss

    loss = sequence_loss(out.logits, batch.tgt_out[out.mask])
    (grad_x,) = torch.autograd.grad(loss.loss * loss.tokens, embedded["x"])  # (batch, src_len, emb)
    with torch.no_grad():
        states, _ = model.encoder.layers[0].left_to_right(embedded["x"])  # (batch, src_len, hidden)
        weight = model.encoder.layers[0].left_to_right.weight_ih_l0  # (hidden, emb)
        expected = ((1 - states**2) * measured.grads[0]) @ weight  # (batch, src_len, emb)
    real = batch.src.ne(0)
    torch.testing.assert_close(expected[real], grad_x[real], rtol=1e-4, atol=1e-6)
    assert measured.grads[0][real].norm(dim=-1).gt(0).all()


def test_a_sentences_gradients_do_not_depend_on_its_batch():
    model = tiny_model("gru")
    batch = tiny_batch()
    together = state_gradients(model, batch).grads
    alone = state_gradients(model, collate([([int(t) for t in batch.src[2, :4]], [int(t) for t in batch.tgt_in[2, 1:]])]))
    torch.testing.assert_close(alone.grads[:, 0, :5], together[:, 2, :5], rtol=1e-4, atol=1e-7)
    assert model.training  # measured in eval mode, mode restored


def test_profile_averages_each_distance_over_the_sentences_that_reach_it():
    norms = torch.tensor([[[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]]])  # (1 direction, 2 sentences, 3 positions)
    sums, counts = by_distance(norms, torch.tensor([3, 1]))
    assert counts.tolist() == [2, 1, 1]
    assert sums.tolist() == [[3.0 + 4.0, 2.0, 1.0]]  # distance = length - 1 - position; padding left out


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_profile_has_a_finite_positive_norm_per_distance_and_direction(cell):
    model = tiny_model(cell)
    batch = tiny_batch()
    profile = gradient_profile(model, batch)
    lengths = batch.src_lengths.tolist()
    assert profile.norms.shape == (4, max(lengths))
    assert profile.counts.tolist() == [sum(n > d for n in lengths) for d in range(max(lengths))]
    assert torch.isfinite(profile.norms).all() and (profile.norms > 0).all()
    assert profile.tokens == batch.num_target_tokens and math.isfinite(profile.loss) and profile.loss > 0
    merged = profile.merge(profile)
    torch.testing.assert_close(merged.norms, profile.norms)
    assert merged.counts.tolist() == [2 * c for c in profile.counts.tolist()]


def test_recall_task_targets_are_the_first_source_tokens():
    task = RecallTask(vocab_size=9, length=7)
    batch = task.batch(5, torch.Generator().manual_seed(0))
    assert batch.src_lengths.tolist() == [8] * 5  # 7 tokens + EOS
    assert batch.tgt_out[:, 0].tolist() == batch.src[:, 0].tolist()
    assert batch.src[:, :7].ge(4).all() and batch.src[:, :7].lt(9).all()


def test_compare_cells_measures_each_cell_before_and_after_training():
    task = RecallTask(vocab_size=8, length=5, hidden_size=6, emb_size=4)
    results = compare_cells(task, ["rnn", "lstm"], steps=3, batch_size=4, lr=0.05, seed=0, measure_size=6)
    assert [r.cell for r in results] == ["rnn", "lstm"]
    for r in results:
        assert r.initial.norms.shape == r.trained.norms.shape == (1, 6)
        assert torch.isfinite(r.trained.norms).all() and (r.trained.norms > 0).all()
        assert not torch.equal(r.initial.norms, r.trained.norms)  # training changed the model
        assert 0.0 <= r.accuracy <= 1.0


def test_torch_initialisation_differs_from_the_toolkits():
    ours = RecallTask(8, 5, 6, 4).model("rnn").encoder.layers[0].left_to_right.weight_hh_l0
    theirs = RecallTask(8, 5, 6, 4, init="torch").model("rnn").encoder.layers[0].left_to_right.weight_hh_l0
    eye = torch.eye(6)
    torch.testing.assert_close(ours @ ours.t(), eye, atol=1e-5, rtol=0)  # orthogonal
    assert theirs.abs().max() <= 1 / math.sqrt(6) and not torch.allclose(theirs @ theirs.t(), eye, atol=0.1)


# ----------------------------------------------------------------------------- command


def run_nmt(capsys, *args):
    rc = main(["diagnose", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def table(out: str) -> dict[int, list[float]]:
    rows = {}
    for line in out.splitlines():
        if re.fullmatch(r"\s*\d+(\s+\S+)+", line) and not line.strip().startswith(("rnn", "gru", "lstm")):
            first, *rest = line.split()
            rows[int(first)] = [float(v) for v in rest]
    return rows


FAST = ["--length", 6, "--vocab", 8, "--steps", 4, "--hidden", 6, "--emb", 4, "--measure", 8, "--batch-size", 4]


def test_gradients_command_prints_a_row_per_distance_and_writes_the_plot(tmp_path, capsys):
    plot = tmp_path / "g.png"
    rc, out, err = run_nmt(capsys, "gradients", *FAST, "-o", plot)
    assert rc == 0, err
    rows = table(out)
    assert sorted(rows) == list(range(7))  # distances 0..length
    assert all(len(values) == 6 and all(math.isfinite(v) and v > 0 for v in values) for values in rows.values())
    assert re.search(r"^rnn\s+\d", out, re.M) and re.search(r"^lstm\s+\d", out, re.M)
    assert plot.read_bytes().startswith(PNG) and plot.stat().st_size > 5000


def assert_one_line_error(rc, err, *fragments):
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("nmt diagnose: error: "), err
    for fragment in fragments:
        assert fragment in err


@pytest.mark.parametrize("args, fragments", [
    (["--length", 0], ["--length", "at least 1"]),
    (["--vocab", 5], ["--vocab", "at least 6"]),
    (["--steps", -1], ["--steps"]),
    (["--lr", 0], ["--lr"]),
    (["--model", "somewhere"], ["--src", "--ref"]),
    (["--src", "a.txt", "--ref", "b.txt"], ["--model"]),
    (["-o", "plot.txt"], ["plot.txt", "format"]),
    (["-o", "no/such/dir/plot.png"], ["does not exist"]),
])
def test_bad_gradients_arguments_are_one_line_errors(args, fragments, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_nmt(capsys, "gradients", *FAST[:2], "--steps", 0, *args)
    assert_one_line_error(rc, err, *fragments)


def test_diagnose_needs_a_diagnostic(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["diagnose"])
    assert exit_info.value.code == 2
    assert "gradients" in capsys.readouterr().err


# ----------------------------------------------------------------------------- trained model


@pytest.fixture
def exported(tmp_path):
    """A real exported model directory: a tokenizer trained on a toy corpus and a tiny LSTM model."""
    from nmt.config import Config, TokenizerConfig
    from nmt.export import export_model_dir
    from nmt.tokenizer import TrainingTextWriter, train_tokenizer

    from conftest import make_pairs

    (tmp_path / "work").mkdir()
    writer = TrainingTextWriter(tmp_path / "work", "toy", "inputs")
    for pair in make_pairs(200, seed=3):
        writer.add(pair)
    tokenizer = train_tokenizer(tmp_path / "tok", writer.close(), TokenizerConfig(vocab_size=64), "de", "en", False)
    config = Config.model_validate(tiny_config())
    torch.manual_seed(0)
    model = build_model(config.model, tokenizer.src_vocab_size, tokenizer.tgt_vocab_size)
    return export_model_dir(tmp_path / "model", config, model, tokenizer)


def test_trained_model_profile_has_a_column_per_direction(exported, tmp_path, capsys):
    (tmp_path / "src.txt").write_text("abc\nhello world\n\nab\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("cba\ndlrow\nxyz\nba\n", encoding="utf-8")
    plot = tmp_path / "m.png"
    rc, out, err = run_nmt(capsys, "gradients", "--model", exported, "--src", tmp_path / "src.txt",
                           "--ref", tmp_path / "ref.txt", "--batch-size", 2, "-o", plot)
    assert rc == 0, err
    assert "3 pairs" in out and "1 skipped" in out
    assert "layer 2 backward" in out and "sentences" in out
    from nmt.tokenizer import Tokenizer

    lengths = [len(ids) + 1 for ids in Tokenizer.load(exported / "tokenizers").encode_src(["abc", "hello world", "ab"])]
    rows = table(out)
    assert sorted(rows) == list(range(max(lengths)))
    assert [int(values[-1]) for _, values in sorted(rows.items())] == [sum(n > d for n in lengths)
                                                                        for d in range(max(lengths))]
    assert all(v > 0 for values in rows.values() for v in values[:-1])
    assert plot.read_bytes().startswith(PNG)


def test_trained_model_with_misaligned_files_is_a_one_line_error(exported, tmp_path, capsys):
    (tmp_path / "src.txt").write_text("abc\nab\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("abc\n", encoding="utf-8")
    rc, _, err = run_nmt(capsys, "gradients", "--model", exported, "--src", tmp_path / "src.txt",
                         "--ref", tmp_path / "ref.txt")
    assert_one_line_error(rc, err, "2 lines", "has 1")


def test_missing_model_directory_is_a_one_line_error(tmp_path, capsys):
    rc, _, err = run_nmt(capsys, "gradients", "--model", tmp_path / "nope", "--src", tmp_path / "s", "--ref", tmp_path / "r")
    assert_one_line_error(rc, err, "nope", "model directory not found")


# ----------------------------------------------------------------------------- training callback


def tiny_config(**train) -> dict:
    return {
        "data": {"name": "tiny", "train": {"src": "train.src", "tgt": "train.tgt"}},
        "model": {"encoder": {"cell": "rnn", "emb_size": 6, "hidden_size": 5, "layers": 2},
                  "decoder": {"emb_size": 6, "hidden_size": 7, "layers": 2}},
        "train": {"val_bleu": False, **train},
    }


def test_callback_is_off_by_default_and_on_with_gradient_profile_every(tmp_path):
    from nmt.config import Config
    from nmt.diagnostics.gradient_callback import GradientProfileCallback
    from nmt.training.run import RunPaths, build_trainer

    def callbacks(**train):
        trainer, _ = build_trainer(Config.model_validate(tiny_config(**train)), RunPaths(tmp_path / "run"))
        return [c for c in trainer.callbacks if isinstance(c, GradientProfileCallback)]

    assert callbacks() == []
    (callback,) = callbacks(gradient_profile_every=7)
    assert callback.every == 7


def test_callback_logs_layer_norms_and_the_profile_to_csv_and_tensorboard(tmp_path):
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from nmt.diagnostics.gradient_callback import GradientProfileCallback
    from nmt.diagnostics.run_logs import read_run
    from nmt.training.module import TranslationModule

    module = TranslationModule(tiny_config(), 13, 13)
    batches = [tiny_batch(seed) for seed in range(5)]
    loader = torch.utils.data.DataLoader(batches, batch_size=None, collate_fn=lambda b: b)
    trainer = L.Trainer(max_steps=5, logger=[CSVLogger(tmp_path, name="logs"), TensorBoardLogger(tmp_path, name="logs")],
                        callbacks=[GradientProfileCallback(every=2)], limit_val_batches=0, log_every_n_steps=50,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, train_dataloaders=loader)

    rows = read_run(tmp_path).rows
    logged = {int(r["step"]): r for r in rows if "grad_norm/total" in r}
    assert sorted(logged) == [0, 2, 4]  # every 2 steps, although log_every_n_steps is 50
    row = logged[2]
    layers = {k for k in row if k.startswith("grad_norm/") and k != "grad_norm/total"}
    assert {"grad_norm/encoder.layers.0.left_to_right", "grad_norm/encoder.layers.1.right_to_left",
            "grad_norm/decoder.rnn.l0", "grad_norm/decoder.rnn.l1", "grad_norm/decoder.output"} <= layers
    assert math.isclose(row["grad_norm/total"], math.sqrt(sum(row[k] ** 2 for k in layers)), rel_tol=1e-5)
    profile = {k: v for k, v in row.items() if k.startswith("grad_profile/")}
    assert {"grad_profile/layer1_forward/d0", "grad_profile/layer2_backward/d4"} <= set(profile)
    assert all(math.isfinite(v) and v > 0 for v in profile.values())
    events = EventAccumulator(str(next(tmp_path.glob("logs/version_*/events.out.tfevents.*")))).Reload()
    assert "grad_profile" in events.Tags()["images"]
    assert [e.step for e in events.Scalars("grad_norm/total")] == [0, 2, 4]
