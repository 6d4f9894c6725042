"""`nmt plot`: run logs read and merged across restarts, the figure written, one-line errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from nmt.commands.main import main
from nmt.diagnostics.run_logs import read_run

PNG = b"\x89PNG\r\n\x1a\n"
COLUMNS = ["epoch", "lr-Adam", "step", "train/loss", "train/ppl", "train/tokens", "train/wall_minutes",
           "val/bleu", "val/chrf", "val/loss", "val/ppl"]


def write_version(run: Path, version: int, rows: list[dict]) -> Path:
    """A metrics.csv as Lightning's CSVLogger writes it: one header, each row only some columns."""
    path = run / "logs" / f"version_{version}" / "metrics.csv"
    path.parent.mkdir(parents=True)
    lines = [",".join(COLUMNS)]
    for row in rows:
        lines.append(",".join("" if row.get(c) is None else str(row[c]) for c in COLUMNS))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def training(steps, loss_at, minutes_per_step=0.1, wall_start=0.0, first=None):
    first = steps[0] if first is None else first
    return [{"epoch": 0, "step": s, "train/loss": loss_at(s), "train/ppl": math.exp(loss_at(s)),
             "train/wall_minutes": wall_start + (s - first + 1) * minutes_per_step} for s in steps]


def validation(steps, bleu_at):
    return [{"epoch": 0, "step": s, "val/loss": 5.0 / (1 + s / 50), "val/ppl": math.exp(5.0 / (1 + s / 50)),
             "val/bleu": bleu_at(s), "val/chrf": 2 * bleu_at(s)} for s in steps]


@pytest.fixture
def resumed_run(tmp_path):
    """Trained to step 129, stopped; resumed from the checkpoint at step 100 with other numbers."""
    run = tmp_path / "resumed"
    write_version(run, 0, training(range(0, 130, 10), lambda s: 9.0) + validation([49, 99, 119], lambda s: 1.0))
    write_version(run, 1, training(range(100, 200, 10), lambda s: 4.0, first=100) + validation([149, 199], lambda s: 20.0))
    return run


def test_a_later_version_replaces_the_steps_it_trains_again(resumed_run):
    log = read_run(resumed_run)
    loss = log.series("train/loss")
    assert loss.steps.tolist() == list(range(0, 200, 10))
    assert loss.values.tolist() == [9.0] * 10 + [4.0] * 10  # version 0's steps 100..120 are gone
    bleu = log.series("val/bleu")
    assert bleu.steps.tolist() == [49, 99, 149, 199] and bleu.values.tolist() == [1.0, 1.0, 20.0, 20.0]
    assert log.versions == 2


def test_wall_time_continues_across_a_restart(resumed_run):
    wall = read_run(resumed_run).series("train/wall_minutes")
    assert wall.steps.tolist() == list(range(0, 200, 10))
    assert all(b > a for a, b in zip(wall.values, wall.values[1:]))  # one clock over the whole run
    assert wall.values[10] == pytest.approx(9.1 + 0.1)  # step 90's wall + version 1's first reading


def test_validation_steps_get_wall_times_between_training_rows(resumed_run):
    log = read_run(resumed_run)
    wall = log.wall_minutes(log.series("val/bleu").steps)
    assert wall[0] == pytest.approx(4.1 + 0.9)  # step 49: between steps 40 (4.1 min) and 50 (5.1 min)


def test_versions_are_read_in_numeric_order(tmp_path):
    run = tmp_path / "run"
    write_version(run, 2, training(range(0, 30, 10), lambda s: 7.0))
    write_version(run, 10, training(range(20, 40, 10), lambda s: 3.0, wall_start=0.0))
    assert read_run(run).series("train/loss").values.tolist() == [7.0, 7.0, 3.0, 3.0]


def test_plot_draws_several_runs_on_one_figure(resumed_run, tmp_path, capsys):
    other = tmp_path / "other"
    write_version(other, 0, training(range(0, 300, 10), lambda s: 8 - s / 60) + validation([99, 199, 299], lambda s: s / 10))
    out_file = tmp_path / "curves.png"
    rc = main(["plot", str(resumed_run), str(other), "-o", str(out_file)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert out_file.read_bytes().startswith(PNG) and out_file.stat().st_size > 20_000
    assert "resumed: 2 log versions, steps 0..190" in out
    assert "val BLEU 29.90 at step 299 (best 29.90 at step 299)" in out
    assert "val BLEU 20.00 at step 199 (best 20.00 at step 149)" in out


def test_runs_without_validation_still_plot(tmp_path, capsys):
    run = tmp_path / "run"
    write_version(run, 0, training(range(0, 50, 10), lambda s: 5.0))
    rc = main(["plot", str(run), "-o", str(tmp_path / "c.svg")])
    assert rc == 0 and (tmp_path / "c.svg").read_text().startswith("<?xml")


def assert_one_line_error(rc, err, *fragments):
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("nmt plot: error: "), err
    for fragment in fragments:
        assert fragment in err


def test_bad_run_directories_are_one_line_errors(tmp_path, capsys):
    rc = main(["plot", str(tmp_path / "missing")])
    assert_one_line_error(rc, capsys.readouterr().err, "missing", "not a directory")
    (tmp_path / "empty" / "logs").mkdir(parents=True)
    rc = main(["plot", str(tmp_path / "empty")])
    assert_one_line_error(rc, capsys.readouterr().err, "empty", "no training logs", "version_N/metrics.csv")


def test_a_bad_number_names_the_file_line_and_column(tmp_path, capsys):
    path = write_version(tmp_path / "run", 0, training(range(0, 30, 10), lambda s: 5.0))
    path.write_text(path.read_text().replace("5.0", "five", 1))
    rc = main(["plot", str(tmp_path / "run"), "-o", str(tmp_path / "c.png")])
    assert_one_line_error(rc, capsys.readouterr().err, str(path), "line 2", "train/loss", "'five'")


def test_bad_plot_options_are_one_line_errors(resumed_run, tmp_path, capsys):
    rc = main(["plot", str(resumed_run), "--labels", "a", "b"])
    assert_one_line_error(rc, capsys.readouterr().err, "2 labels for 1 runs")
    rc = main(["plot", str(resumed_run), "-o", str(tmp_path / "curves.jpg2")])
    assert_one_line_error(rc, capsys.readouterr().err, "unsupported plot format")
