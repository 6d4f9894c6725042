"""`nmt diagnose gradients`: the step-by-step encoder, the measured gradients, the command and
the training callback, on tiny models."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import pytest
import torch

from nmt.commands.diagnose_gradients import recall_settings
from nmt.commands.main import build_parser, main
from nmt.data.batch import collate
from nmt.diagnostics.gradients import GradientProfile, by_distance, gradient_profile, state_gradients
from nmt.diagnostics.model_gradients import measure_model
from nmt.diagnostics.recall_task import RecallSettings, RecallTask, checkpoint_steps, compare_cells
from nmt.diagnostics.stepwise import StepwiseRNN, stepwise
from tiny_models import tiny_model


PNG = b"\x89PNG\r\n\x1a\n"
VOCAB = 13


def encoder_model(cell: str, attention: str = "general", layers: int = 2, bidirectional: bool = True):
    """The shared tiny model with dropout on, so measuring in eval mode matters."""
    return tiny_model(cell=cell, attention=attention, layers=layers, bidirectional=bidirectional, dropout=0.2, vocab=VOCAB)


def tiny_batch(seed: int = 0, vocab: int = VOCAB):
    rng = torch.Generator().manual_seed(seed)
    lengths = [6, 2, 4, 1]
    pairs = [(torch.randint(4, vocab, (n,), generator=rng).tolist(), torch.randint(4, vocab, (3,), generator=rng).tolist())
             for n in lengths]
    return collate(pairs)


# ----------------------------------------------------------------------------- measurement


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_stepwise_encoder_computes_what_the_encoder_computes(cell):
    model = encoder_model(cell).eval()
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
    model = encoder_model("rnn", attention="none", layers=1, bidirectional=False).eval()
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
    model = encoder_model("gru")
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
    model = encoder_model(cell)
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


def test_far_near_is_the_farthest_norm_over_the_nearest_per_direction():
    sums = torch.tensor([[4.0, 2.0, 1.0], [0.0, 3.0, 3.0]], dtype=torch.float64)  # (2 directions, distances 0..2)
    profile = GradientProfile(["forward", "backward"], sums, torch.tensor([2.0, 2.0, 1.0], dtype=torch.float64), 1.0, 1)
    far_near = profile.far_near()
    assert far_near[0] == pytest.approx((1.0 / 1) / (4.0 / 2))  # means, not sums: the far distance has 1 sentence
    assert math.isnan(far_near[1])  # nothing reaches distance 0


# ----------------------------------------------------------------------------- recall task

TINY = RecallSettings(cells=("rnn", "lstm"), length=5, vocab=8, hidden=6, emb=4, steps=5, every_steps=2,
                      batch_size=4, lr=0.05, measure=6, seed=0)


def test_recall_task_targets_are_the_first_source_tokens():
    task = RecallTask.of(replace(TINY, vocab=9, length=7))
    batch = task.batch(5, torch.Generator().manual_seed(0))
    assert batch.src_lengths.tolist() == [8] * 5  # 7 tokens + EOS
    assert batch.tgt_out[:, 0].tolist() == batch.src[:, 0].tolist()
    assert batch.src[:, :7].ge(4).all() and batch.src[:, :7].lt(9).all()


@pytest.mark.parametrize("steps, every, expected", [
    (5, 2, [0, 2, 4, 5]), (4, 2, [0, 2, 4]), (3, 10, [0, 3]), (0, 3, [0]),
])
def test_checkpoints_are_step_0_every_k_steps_and_the_last(steps, every, expected):
    assert checkpoint_steps(steps, every) == expected


def test_each_cell_is_measured_along_its_training():
    trajectories = compare_cells(TINY)
    assert [t.cell for t in trajectories] == ["rnn", "lstm"]
    for t in trajectories:
        assert t.steps == [0, 2, 4, 5]
        for c in t.checkpoints:
            assert 0.0 <= c.accuracy <= 1.0 and math.isfinite(c.loss) and c.loss > 0
            assert c.profile.norms.shape == (1, 6)  # one direction, distances 0..length
            assert math.isfinite(c.far_near) and c.far_near > 0
        assert not torch.equal(t.initial.profile.norms, t.final.profile.norms)  # training changed the model


def test_measuring_does_not_change_the_training_it_observes():
    often = compare_cells(replace(TINY, cells=("gru",), every_steps=1))[0].final
    once = compare_cells(replace(TINY, cells=("gru",), every_steps=5))[0].final
    assert often.step == once.step == 5
    assert often.accuracy == once.accuracy
    torch.testing.assert_close(often.profile.norms, once.profile.norms, rtol=0, atol=0)


def test_torch_initialisation_differs_from_the_toolkits():
    ours = RecallTask.of(replace(TINY, hidden=6, init="xavier")).model("rnn").encoder.layers[0].left_to_right.weight_hh_l0
    theirs = RecallTask.of(replace(TINY, hidden=6, init="torch")).model("rnn").encoder.layers[0].left_to_right.weight_hh_l0
    eye = torch.eye(6)
    torch.testing.assert_close(ours @ ours.t(), eye, atol=1e-5, rtol=0)  # orthogonal
    assert theirs.abs().max() <= 1 / math.sqrt(6) and not torch.allclose(theirs @ theirs.t(), eye, atol=0.1)


# ----------------------------------------------------------------------------- command


def run_nmt(capsys, *args):
    rc = main(["diagnose", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def table(out: str, header: str) -> tuple[list[str], dict[int, list[str]]]:
    """The block of `out` whose first line starts with `header`: its column names and its rows by first number."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [header])
    rows = {}
    for line in lines[start + 1:]:
        if not re.fullmatch(r"\s*\d+(\s+\S+)+", line):
            break
        first, *rest = line.split()
        rows[int(first)] = rest
    return lines[start].split()[1:], rows


def numbers(rows: dict[int, list[str]]) -> dict[int, list[float]]:
    return {k: [float(v) for v in values] for k, values in rows.items()}


FAST = ["--cells", "rnn", "gru", "lstm", "--length", 6, "--vocab", 8, "--steps", 4, "--every-steps", 2, "--hidden", 6,
        "--emb", 4, "--measure", 8, "--batch-size", 4]


def test_gradients_command_prints_the_trajectory_the_summary_and_the_profile_and_writes_the_plot(tmp_path, capsys):
    plot = tmp_path / "g.png"
    rc, out, err = run_nmt(capsys, "gradients", *FAST, "-o", plot)
    assert rc == 0, err
    _, steps = table(out, "step")
    assert list(steps) == [0, 2, 4]
    for acc_rnn, ratio_rnn, acc_gru, ratio_gru, acc_lstm, ratio_lstm in numbers(steps).values():
        assert all(0.0 <= a <= 1.0 for a in (acc_rnn, acc_gru, acc_lstm))
        assert all(math.isfinite(r) and r > 0 for r in (ratio_rnn, ratio_gru, ratio_lstm))
    _, distances = table(out, "distance")
    assert list(distances) == list(range(7))  # distances 0..length
    assert all(len(values) == 6 and all(math.isfinite(v) and v > 0 for v in values) for values in numbers(distances).values())
    assert re.search(r"^rnn\s+\d", out, re.M) and re.search(r"^lstm\s+\d", out, re.M)
    assert plot.read_bytes().startswith(PNG) and plot.stat().st_size > 5000


def test_gradients_options_default_to_the_recall_settings():
    args = build_parser(only="diagnose").parse_args(["diagnose", "gradients"])
    assert recall_settings(args) == RecallSettings()
    assert recall_settings(build_parser(only="diagnose").parse_args(["diagnose", "gradients", "--every-steps", "7"])).every_steps == 7


def assert_one_line_error(rc, err, *fragments):
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("nmt diagnose: error: "), err
    for fragment in fragments:
        assert fragment in err


@pytest.mark.parametrize("args, fragments", [
    (["--length", 0], ["--length", "at least 1"]),
    (["--vocab", 5], ["--vocab", "at least 6"]),
    (["--steps", -1], ["--steps"]),
    (["--every-steps", 0], ["--every-steps", "at least 1"]),
    (["--lr", 0], ["--lr"]),
    (["--model", "somewhere"], ["--src", "--ref"]),
    (["--src", "a.txt", "--ref", "b.txt"], ["--model"]),
    (["-o", "plot.txt"], ["plot.txt", "format"]),
    (["-o", "no/such/dir/plot.png"], ["does not exist"]),
])
def test_bad_gradients_arguments_are_one_line_errors(args, fragments, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_nmt(capsys, "gradients", *args)  # checked before any training
    assert_one_line_error(rc, err, *fragments)


@pytest.mark.parametrize("option, value", [("--init", "glorot"), ("--cells", "transformer")])
def test_unknown_choices_are_argparse_errors_naming_the_option_and_the_choices(option, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["diagnose", "gradients", option, value])
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert option in last and value in last and "choose from" in last


def test_diagnose_needs_a_diagnostic(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["diagnose"])
    assert exit_info.value.code == 2
    assert "gradients" in capsys.readouterr().err


# ----------------------------------------------------------------------------- trained model


def test_trained_model_profile_has_a_column_per_direction(tiny_model_dir, tmp_path, capsys):
    (tmp_path / "src.txt").write_text("abc\nhello world\n\nab\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("cba\ndlrow\nxyz\nba\n", encoding="utf-8")
    plot = tmp_path / "m.png"
    rc, out, err = run_nmt(capsys, "gradients", "--model", tiny_model_dir, "--src", tmp_path / "src.txt",
                           "--ref", tmp_path / "ref.txt", "--batch-size", 2, "-o", plot)
    assert rc == 0, err
    assert "3 pairs" in out and "1 skipped" in out
    names, rows = table(out, "distance")
    assert " ".join(names) == "layer 1 forward layer 1 backward sentences"  # the shared model: one bidirectional layer
    from nmt.tokenizer import Tokenizer

    lengths = [len(ids) + 1 for ids in Tokenizer.load(tiny_model_dir / "tokenizers").encode_src(["abc", "hello world", "ab"])]
    rows = numbers(rows)
    assert sorted(rows) == list(range(max(lengths)))
    assert [int(values[-1]) for _, values in sorted(rows.items())] == [sum(n > d for n in lengths)
                                                                        for d in range(max(lengths))]
    assert all(v > 0 for values in rows.values() for v in values[:-1])
    assert plot.read_bytes().startswith(PNG)


def test_trained_model_measurement_returns_the_profile(tiny_none_model_dir, tmp_path):
    (tmp_path / "src.txt").write_text("abc\nab\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("cba\nba\n", encoding="utf-8")
    measured = measure_model(tiny_none_model_dir, tmp_path / "src.txt", tmp_path / "ref.txt", max_sentences=1, batch_size=4)
    assert (measured.cell, measured.attention, measured.pairs, measured.skipped) == ("lstm", "none", 1, 0)
    assert measured.profile.counts[: measured.longest + 1].tolist() == [1.0] * (measured.longest + 1)


def test_trained_model_with_misaligned_files_is_a_one_line_error(tiny_model_dir, tmp_path, capsys):
    (tmp_path / "src.txt").write_text("abc\nab\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("abc\n", encoding="utf-8")
    rc, _, err = run_nmt(capsys, "gradients", "--model", tiny_model_dir, "--src", tmp_path / "src.txt",
                         "--ref", tmp_path / "ref.txt", "-o", tmp_path / "m.png")
    assert_one_line_error(rc, err, "2 lines", "has 1")


def test_missing_model_directory_is_a_one_line_error(tmp_path, capsys):
    rc, _, err = run_nmt(capsys, "gradients", "--model", tmp_path / "nope", "--src", tmp_path / "s", "--ref", tmp_path / "r",
                         "-o", tmp_path / "m.png")
    assert_one_line_error(rc, err, "nope", "model directory not found")


# ----------------------------------------------------------------------------- training callback


def tiny_run_config(**train) -> dict:
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
        trainer, _ = build_trainer(Config.model_validate(tiny_run_config(**train)), RunPaths(tmp_path / "run"))
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

    module = TranslationModule(tiny_run_config(), VOCAB, VOCAB)
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


def test_a_deeper_model_has_a_column_per_layer_and_direction(tiny_tokenizer, tmp_path):
    """Two bidirectional layers: four columns, named by layer and direction."""
    from nmt.config import Config
    from nmt.export import export_model_dir
    from nmt.model import build_model

    config = Config.model_validate({
        "data": {"name": "toy", "src_lang": "de", "tgt_lang": "en", "train": {"src": "a.de", "tgt": "a.en"}},
        "model": {"encoder": {"emb_size": 8, "hidden_size": 8, "layers": 2, "dropout": 0.0},
                  "decoder": {"emb_size": 8, "hidden_size": 16, "layers": 2, "dropout": 0.0}}})
    torch.manual_seed(0)
    model = build_model(config.model, tiny_tokenizer.src_vocab_size, tiny_tokenizer.tgt_vocab_size)
    export = export_model_dir(tmp_path / "export", config, model, tiny_tokenizer)
    (tmp_path / "src.txt").write_text("abc de\nab\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("ed cba\nba\n", encoding="utf-8")
    measured = measure_model(export, tmp_path / "src.txt", tmp_path / "ref.txt", max_sentences=10, batch_size=2)
    assert measured.profile.names == ["layer 1 forward", "layer 1 backward", "layer 2 forward", "layer 2 backward"]
    assert all(float(norms[0]) > 0 for norms in measured.profile.norms)
