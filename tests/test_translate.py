"""`nmt translate`: batch mode on files and pipes, n-best TSV, options, attention plots, the
interactive prompt (fed lines, and a real pseudo-terminal), and one-line errors for bad input."""

from __future__ import annotations

import builtins
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from typing import Optional
from pathlib import Path

import pytest

from nmt.decoding import alignment
from nmt.commands.main import build_parser, main
from nmt.config import SearchConfig
from nmt.errors import NMTError
from nmt.commands.interactive import PROMPT, repl
from nmt.commands.decoding_options import search_config
from nmt.commands.translate import render
from nmt.decoding.translator import Translator
from tests.conftest import make_pairs, train_toy_tokenizer


SOURCES = [s for s, _ in make_pairs(5, seed=4, max_words=6)]
LINES = [SOURCES[0], "", SOURCES[1], "   ", SOURCES[2], SOURCES[3], SOURCES[4]]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def translator(tiny_model_dir):
    return Translator.load(tiny_model_dir)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def translate(capsys, *args) -> tuple[int, str, str]:
    rc = main(["translate", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def alone(translator: Translator, lines: list[str], **search) -> list[str]:
    """Each line translated by itself through the library: what the command must reproduce."""
    config = translator.search_config.model_copy(update=search)
    return [translator.translate([line], config)[0].text for line in lines]


# ----------------------------------------------------------------------------- batch mode


def test_file_gives_one_line_per_input_line_in_order(tiny_model_dir, translator, tmp_path, capsys):
    out = tmp_path / "out.txt"
    rc, stdout, _ = translate(capsys, tiny_model_dir, "-i", write_lines(tmp_path / "in.txt", LINES),
                              "-o", out, "--batch-size", 2)
    assert rc == 0 and stdout == ""
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(LINES)
    assert lines[:-1] == alone(translator, LINES)
    assert [bool(line) for line in lines[:-1]] == [bool(line.strip()) for line in LINES]


def test_stdin_pipe_gives_the_same_lines_without_a_progress_bar(tiny_model_dir, translator, tmp_path):
    text = "".join(line + "\r\n" for line in LINES)  # CRLF line ends too
    done = subprocess.run([sys.executable, "-m", "nmt", "translate", str(tiny_model_dir), "--threads", "1"],
                          input=text.encode("utf-8"), capture_output=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode("utf-8").split("\n")[:-1] == alone(translator, LINES)
    err = done.stderr.decode()
    assert "\r" not in err and "%|" not in err  # tqdm draws only on a terminal
    assert err.startswith(f"translated {len(LINES)} lines in ")


def test_nbest_rows_are_index_score_text_best_first(tiny_model_dir, translator, tmp_path, capsys):
    rc, out, _ = translate(capsys, tiny_model_dir, "-i", write_lines(tmp_path / "in.txt", LINES),
                           "--nbest", 3, "--beam", 3, "-q")
    assert rc == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert all(len(row) == 3 for row in rows)
    by_index: dict[int, list[tuple[float, str]]] = {}
    for index, score, text in rows:
        by_index.setdefault(int(index), []).append((float(score), text))
    assert sorted(by_index) == list(range(len(LINES)))
    best = alone(translator, LINES, beam_size=3, nbest=1)
    for i, line in enumerate(LINES):
        if not line.strip():
            assert by_index[i] == [(0.0, "")]
            continue
        scores = [score for score, _ in by_index[i]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True) and scores[0] < 0
        assert by_index[i][0][1] == best[i]


@pytest.mark.parametrize("options, expected", [
    # left out: the model's search section
    ([], {"beam_size": 3, "nbest": 1, "max_len": 20, "length_penalty": "gnmt", "early_stop": False}),
    (["--beam", "1"], {"beam_size": 1, "max_len": 20}),
    (["-b", "4", "-n", "2", "--max-len", "7", "--max-len-ratio", "0.5", "--max-len-const", "2", "--min-len", "3",
      "--length-penalty", "length", "--alpha", "0.2", "--early-stop"],
     {"beam_size": 4, "nbest": 2, "max_len": 7, "max_len_ratio": 0.5, "max_len_const": 2, "min_len": 3,
      "length_penalty": "length", "alpha": 0.2, "early_stop": True}),
])
def test_search_options_override_the_models_search_section(translator, options, expected):
    args = build_parser("translate").parse_args(["translate", "MODEL", *options])
    config = search_config(translator.search_config, args)
    assert {key: getattr(config, key) for key in expected} == expected


def test_no_early_stop_overrides_a_model_that_stops_early(translator):
    base = translator.search_config.model_copy(update={"early_stop": True})
    given = build_parser("translate").parse_args(["translate", "MODEL", "--no-early-stop"])
    left_out = build_parser("translate").parse_args(["translate", "MODEL"])
    assert (search_config(base, given).early_stop, search_config(base, left_out).early_stop) == (False, True)


def test_search_options_reach_the_search(tiny_model_dir, translator, tmp_path, capsys):
    rc, out, _ = translate(capsys, tiny_model_dir, "-i", write_lines(tmp_path / "in.txt", SOURCES),
                           "--beam", 1, "--max-len", 4, "-q")
    assert rc == 0
    config = SearchConfig(beam_size=1, max_len=4)
    results = translator.translate(SOURCES, config)
    assert out.splitlines() == [t.text for t in results]
    assert all(len(t.hypotheses[0].tokens) <= 4 for t in results)
    assert out.splitlines() != alone(translator, SOURCES)  # the model's own max_len is 20


def test_a_very_long_line_is_cut_with_a_warning_naming_it(tiny_model_dir, tmp_path, capsys):
    lines = [SOURCES[0], " ".join(SOURCES * 20), SOURCES[1]]
    out = tmp_path / "out.txt"
    rc, _, err = translate(capsys, tiny_model_dir, "-i", write_lines(tmp_path / "in.txt", lines), "-o", out,
                           "--max-src-tokens", 40, "-q")
    assert rc == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1
    assert warning[0].startswith("nmt translate: warning: 1 source line(s) longer than 40 pieces")
    assert "line 2 (" in warning[0]


# ----------------------------------------------------------------------------- attention


def test_attention_plot_shows_the_chosen_line(tiny_model_dir, translator, tmp_path, capsys, monkeypatch):
    plotted = []
    monkeypatch.setattr(alignment, "plot_attention", lambda a, path, title="": plotted.append((a, path, title)))
    png = tmp_path / "a.png"
    rc, _, _ = translate(capsys, tiny_model_dir, "-i", write_lines(tmp_path / "in.txt", LINES), "-o",
                         tmp_path / "out.txt", "--attention-plot", png, "--plot-line", 3, "-q")
    assert rc == 0
    (found, path, title), = plotted
    expected = translator.translate([LINES[2]], attention=True)[0]
    pieces = [translator.tokenizer.src_model.id_to_piece(i) for i in expected.src_ids]
    assert path == png and title == f"line 3: {LINES[2]}"
    assert found.source == pieces + ["</s>"]
    assert len(found.target) == len(expected.hypotheses[0].tokens)
    assert found.weights.shape == (len(found.target), len(found.source))
    assert found.weights.sum(dim=1).tolist() == pytest.approx([1.0] * len(found.target), abs=1e-5)


def test_attention_plot_is_a_png_heat_map_with_pieces_on_the_axes(tiny_model_dir, translator, tmp_path, capsys):
    png = tmp_path / "a.png"
    rc, _, _ = translate(capsys, tiny_model_dir, "-i", write_lines(tmp_path / "in.txt", SOURCES[:1]),
                         "-o", tmp_path / "out.txt", "--attention-plot", png, "-q")
    assert rc == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    found = alignment.alignment_of(translator.translate(SOURCES[:1], attention=True)[0], translator.tokenizer)
    axes = alignment.attention_figure(found).axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == found.source
    assert [t.get_text() for t in axes.get_yticklabels()] == found.target
    assert axes.images[0].get_array().shape == tuple(found.weights.shape)


# ----------------------------------------------------------------------------- bad input


def _incomplete(model: Path, tmp_path: Path) -> Path:
    copy = Path(shutil.copytree(model, tmp_path / "incomplete"))
    (copy / "model.safetensors").unlink()
    return copy


def _mismatched(model: Path, tmp_path: Path) -> Path:
    copy = Path(shutil.copytree(model, tmp_path / "mismatched"))
    other = train_toy_tokenizer(tmp_path / "other", make_pairs(300, seed=1, max_words=6), vocab_size=50)
    shutil.copyfile(other.directory / "joint.model", copy / "tokenizers" / "src.model")
    return copy


def _mismatched_tgt(model: Path, tmp_path: Path) -> Path:
    copy = Path(shutil.copytree(model, tmp_path / "mismatched_tgt"))
    other = train_toy_tokenizer(tmp_path / "other40", make_pairs(300, seed=1, max_words=6), vocab_size=40)
    shutil.copyfile(other.directory / "joint.model", copy / "tokenizers" / "tgt.model")
    return copy


@pytest.mark.parametrize("case, message", [
    ("missing", "nope: model directory not found"),
    ("incomplete", "incomplete: incomplete model directory, missing model.safetensors"),
    ("mismatched", "src.model has 50 pieces but"),
    ("mismatched_tgt", "tgt.model has 40 pieces, but"),
    ("not_utf8", "in.txt: line 3: not UTF-8 (invalid start byte at byte 3 of the line)"),
    ("nbest", "--nbest 5 is more than the beam size 3; give --beam 5 or more"),
    ("no_attention", "the model has no attention (model.decoder.attention: none)"),
    ("plot_format", "a.xyz: unknown plot format 'xyz'"),
    ("plot_line", "--plot-line 9: the input has only 2 line(s)"),
    ("missing_input", "absent.txt: file not found"),
    ("alignment_in_batch", "--show-alignment is for the interactive prompt"),
])
def test_bad_input_is_a_one_line_error(case, message, tiny_model_dir, tiny_none_model_dir, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_bytes(b"ab cd\nef\nok \xff\xfe\n" if case == "not_utf8" else b"ab cd\nef\n")
    model = {"missing": tmp_path / "nope", "incomplete": _incomplete(tiny_model_dir, tmp_path),
             "mismatched": _mismatched(tiny_model_dir, tmp_path),
             "mismatched_tgt": _mismatched_tgt(tiny_model_dir, tmp_path),
             "no_attention": tiny_none_model_dir}.get(case, tiny_model_dir)
    extra = {"nbest": ["--nbest", "5"], "no_attention": ["--attention-plot", tmp_path / "a.png"],
             "plot_format": ["--attention-plot", tmp_path / "a.xyz"],
             "plot_line": ["--attention-plot", tmp_path / "a.png", "--plot-line", "9"],
             "missing_input": ["-i", tmp_path / "absent.txt"],
             "alignment_in_batch": ["--show-alignment"]}.get(case, [])
    out = tmp_path / "out.txt"
    rc, _, err = translate(capsys, model, "-i", source, "-o", out, "-q", *extra)
    assert rc == 2
    assert err.startswith("nmt translate: error: ") and len(err.strip().splitlines()) == 1
    assert message in err
    assert not out.exists() or case == "plot_line"  # a failed run leaves no half-written output


# ----------------------------------------------------------------------------- interactive


class Script:
    """Feeds `repl` lines; exceptions stand for Ctrl-C (KeyboardInterrupt) and Ctrl-D (EOFError)."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.prompts = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        step = self.steps.pop(0)
        if isinstance(step, type) and issubclass(step, BaseException):
            raise step
        return step


def test_repl_translates_each_line_and_survives_ctrl_c_until_ctrl_d(translator):
    written, warned = [], []
    script = Script(SOURCES[0], KeyboardInterrupt, "  ", SOURCES[1], EOFError)
    status = repl(lambda line: [translator.translate([line])[0].text], read=script, write=written.append,
                  warn=warned.append)
    assert status == 0 and not script.steps
    assert written == [*alone(translator, SOURCES[:1]), "", *alone(translator, SOURCES[1:2]), ""]
    assert script.prompts == [PROMPT] * 5 and not warned


def test_repl_reports_an_interrupted_translation_or_a_user_error_and_goes_on():
    calls = iter([KeyboardInterrupt, NMTError("cannot write x.png"), None])

    def respond(line: str) -> list[str]:
        problem = next(calls)
        if problem is not None:
            raise problem
        return [line.upper()]

    written, warned = [], []
    assert repl(respond, read=Script("a", "b", "c", EOFError), write=written.append, warn=warned.append) == 0
    assert written == ["C", ""]
    assert warned == ["interrupted", "error: cannot write x.png"]


def test_render_shows_nbest_with_scores_and_the_alignment(translator):
    translation = translator.translate([SOURCES[0]], SearchConfig(beam_size=3, nbest=3, max_len=20), attention=True)[0]
    lines = render(translation, translator.tokenizer, nbest=True, show_alignment=True)
    ranked = [line.split(None, 2) for line in lines[:3]]
    assert [int(rank) for rank, _, _ in ranked] == [1, 2, 3]
    assert [float(score) for _, score, _ in ranked] == pytest.approx([h.score for h in translation.hypotheses], abs=1e-4)
    assert [text for _, _, text in ranked] == translation.texts
    rows = lines[3:]
    source = [translator.tokenizer.src_model.id_to_piece(i) for i in translation.src_ids] + ["</s>"]
    assert len(rows) == len(translation.hypotheses[0].tokens)
    for row, weights in zip(rows, translation.hypotheses[0].attention):
        target_piece, arrow, source_piece, weight = row.split()
        assert arrow == "<-" and source_piece == source[int(weights.argmax())]
        assert float(weight) == pytest.approx(float(weights.max()), abs=0.005)


def test_interactive_session_in_process(tiny_model_dir, translator, tmp_path, capsys, monkeypatch):
    """The prompt path of `run`: a terminal on stdin, lines typed through `input`, a plot per line."""
    monkeypatch.setattr(sys, "stdin", type("Terminal", (), {"isatty": lambda self: True})())
    script = Script(SOURCES[0], SOURCES[1], EOFError)
    monkeypatch.setattr(builtins, "input", script)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rc, out, err = translate(capsys, tiny_model_dir, "--nbest", 2, "--attention-plot", tmp_path / "a.png")
    assert rc == 0
    assert "de to en, beam 3" in err
    lines = out.splitlines()
    assert lines[0].split(None, 2)[2] == alone(translator, SOURCES[:1])[0]
    assert lines[2] == f"(attention plot: {tmp_path / 'a.png'})"
    assert (tmp_path / "a.png").is_file()
    assert translate(capsys, tiny_model_dir, "-o", tmp_path / "x.txt")[0] == 2  # -o needs batch input


def _read_until(fd: int, token: bytes, timeout: float = 60.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while token not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            data += chunk
    return data


# what the kernel shows for a process blocked in select()/poll(): its wait channel, else its syscall
# number (x86_64: poll 7, select 23, pselect6 270, ppoll 271; aarch64: pselect6 72, ppoll 73)
WAITING_IN = ("poll", "select")
WAITING_SYSCALLS = {"x86_64": {7, 23, 270, 271}, "aarch64": {72, 73}}


def _blocked_in_select(pid: int) -> Optional[bool]:
    """True: the process's main thread sleeps in select()/poll(); False: not (yet), e.g. it is
    running; None: the kernel does not say where a sleeping process waits."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/wchan") as wchan:
            channel = wchan.read().strip()
        if state != "S":
            return False  # running or runnable: it has not gone back to waiting yet
        if channel not in ("", "0"):
            return any(word in channel for word in WAITING_IN)
        with open(f"/proc/{pid}/syscall") as syscall:
            fields = syscall.read().split()
    except (OSError, IndexError):
        return None
    if not fields or fields[0] == "running":
        return False
    known = WAITING_SYSCALLS.get(os.uname().machine)
    return None if known is None or not fields[0].isdigit() else int(fields[0]) in known


def _wait_until_reading_keys(pid: int, timeout: float = 60.0) -> None:
    """Block until readline waits in select() for the next key: only there does SIGINT interrupt
    it at once (between keys, Python's readline defers the signal until the next key arrives)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        blocked = _blocked_in_select(pid)
        if blocked is None:
            pytest.skip("cannot see when readline waits for a key (/proc/PID/wchan and /proc/PID/syscall say "
                        "nothing here), and a Ctrl-C sent between keys is deferred, so the test would race")
        if blocked:
            return
        time.sleep(0.01)  # the interval between two looks at the process, not a guess at its timing
    raise AssertionError(f"the prompt did not return to reading keys within {timeout:.0f} s")


@pytest.mark.slow
def test_interactive_prompt_on_a_real_terminal(tiny_model_dir, translator, tmp_path):
    """Through a pseudo-terminal with readline: a line is translated at once, Ctrl-C drops a
    half-typed line without exiting, Ctrl-D exits with status 0, and the history file keeps the
    translated lines."""
    expected = alone(translator, SOURCES[:2])
    history = tmp_path / "history"
    master, slave = pty.openpty()
    # a session leader opening its terminal makes it the controlling one, so ^C becomes SIGINT;
    # SIGINT handled as an interactive shell leaves it for a foreground job, even when the tests
    # themselves run as a background job of a non-interactive shell, which ignores it (inherited)
    code = ("import os, signal, sys; os.close(os.open(os.ttyname(0), os.O_RDWR)); "
            "signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from nmt.commands.main import main; sys.exit(main())")
    process = subprocess.Popen(
        [sys.executable, "-c", code, "translate", str(tiny_model_dir), "--threads", "1", "--history", str(history)],
        stdin=slave, stdout=slave, stderr=slave, cwd=REPO, start_new_session=True,
        env=dict(os.environ, TERM="dumb"))
    os.close(slave)
    try:
        assert b"Ctrl-D quits" in _read_until(master, b"\n" + PROMPT.encode())
        os.write(master, SOURCES[0].encode() + b"\n")
        assert expected[0].encode() in _read_until(master, expected[0].encode() + b"\r\n" + PROMPT.encode())
        os.write(master, b"half a line")
        assert b"half a line" in _read_until(master, b"half a line")  # echoed: every key was handled
        _wait_until_reading_keys(process.pid)
        os.write(master, b"\x03")  # Ctrl-C
        after_interrupt = _read_until(master, b"\n" + PROMPT.encode())
        assert after_interrupt.endswith(PROMPT.encode()) and b"interrupted" not in after_interrupt
        os.write(master, SOURCES[1].encode() + b"\n")
        assert expected[1].encode() in _read_until(master, expected[1].encode() + b"\r\n" + PROMPT.encode())
        os.write(master, b"\x04")  # Ctrl-D
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    assert history.read_text(encoding="utf-8").splitlines() == SOURCES[:2]


def test_prompt_commands_change_decoding_between_sentences(tiny_model_dir, translator, tmp_path, capsys,
                                                           monkeypatch):
    """`:help` lists the commands instead of being translated; `:beam 1`, `:prefix` and
    `:nbest` apply to the next sentences; a bad command is reported and the prompt goes on."""
    monkeypatch.setattr(sys, "stdin", type("Terminal", (), {"isatty": lambda self: True})())
    script = Script(":help", ":beam 1", SOURCES[0], ":prefix abc", SOURCES[0], ":beam x", ":beam 3", ":nbest 2",
                    SOURCES[1], EOFError)
    monkeypatch.setattr(builtins, "input", script)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rc, out, err = translate(capsys, tiny_model_dir)
    assert rc == 0
    assert ":beam K" in out
    assert alone(translator, SOURCES[:1], beam_size=1)[0] in out.splitlines()
    prefixed = translator.translate(SOURCES[:1], SearchConfig(beam_size=1, max_len=20), prefix="abc")[0].text
    assert prefixed.startswith("abc") and prefixed in out.splitlines()
    assert "error: :beam x:" in err
    two_best = [line for line in out.splitlines() if line.startswith((" 1  ", " 2  "))]
    assert len(two_best) == 2 and all(line.split(None, 2)[2].startswith("abc") for line in two_best)
