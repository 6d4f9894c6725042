"""`nmt translate MODEL_DIR`: an interactive prompt on a terminal, batch translation otherwise.

Batch mode (`-i FILE`, or standard input from a pipe) writes exactly one line per input line, in
input order (an empty line stays empty), or with `--nbest` rows of `index<TAB>score<TAB>text`;
`--print-alignment` adds a column of hard word alignments (`0-0 1-2 ...`, source-target).
Several MODEL_DIRs translate with their ensemble.
It reads up to `CHUNK_LINES` lines at a time, so a huge file never sits in memory and output
starts early; within a chunk the `Translator` sorts sentences by length into batches. Both modes
go through the one `Translator`, so what is typed at the prompt translates exactly as in a file.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import warnings
from pathlib import Path

from nmt.commands.decoding_options import add_search_arguments, load_translator, positive_int
from nmt.errors import NMTError
from nmt.lines import numbered_lines, open_output, open_source
from nmt.progress import progress_bar

CHUNK_LINES = 10_000  # lines read and translated at a time in batch mode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path, nargs="+", metavar="MODEL_DIR",
                        help="exported model directory (runs/<name>/export); several: decode with their ensemble")
    parser.add_argument("-i", "--input", type=Path, metavar="FILE",
                        help="translate FILE (default: standard input; a terminal gets the interactive prompt)")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write the translations to FILE, replaced only once all are done (default: stdout)")
    add_search_arguments(parser)
    parser.add_argument("--prefix", metavar="TEXT", default="",
                        help="every translation starts with TEXT (forced decoding of a target prefix)")
    group = parser.add_argument_group("display")
    group.add_argument("--print-alignment", action="store_true",
                       help="batch mode: a TAB and the hard word alignment (source-target index pairs, from "
                            "attention) after each translation")
    group.add_argument("--show-alignment", action="store_true",
                       help="prompt: under each translation, the source piece each output piece attends to most")
    group.add_argument("--attention-plot", type=Path, metavar="PATH.png",
                       help="heat map of one sentence's attention (.png, .svg or .pdf); at the prompt, of the last")
    group.add_argument("--plot-line", type=positive_int, default=1, metavar="N",
                       help="batch mode: which input line --attention-plot shows (default: %(default)s)")
    group.add_argument("--history", type=Path, metavar="FILE",
                       help="prompt history (default: $XDG_CACHE_HOME or ~/.cache, then nmt/translate_history)")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary on stderr")


def run(args: argparse.Namespace) -> int:
    from nmt.decoding.translator import LongSourceWarning

    interactive = args.input is None and sys.stdin.isatty()
    if interactive and args.output is not None:
        raise NMTError("-o needs input from -i FILE or a pipe; the prompt writes to the terminal")
    if not interactive and args.show_alignment:
        raise NMTError("--show-alignment is for the interactive prompt; in batch mode use --print-alignment "
                       "or --attention-plot")
    if interactive and args.print_alignment:
        raise NMTError("--print-alignment is for batch mode; at the prompt use --show-alignment or :align on")
    if args.attention_plot is not None:
        from nmt.decoding.alignment import check_plot_path

        check_plot_path(args.attention_plot)
    translator, config = load_translator(args)
    if (args.show_alignment or args.attention_plot or args.print_alignment) and not translator.has_attention:
        raise NMTError(f"{' '.join(map(str, args.model_dir))}: the model has no attention (model.decoder.attention: "
                       f"none), so there is nothing to {'plot' if args.attention_plot else 'align'}")
    with warnings.catch_warnings():
        warnings.simplefilter("always", LongSourceWarning)
        warnings.showwarning = _one_line_warning
        if interactive:
            return run_interactive(translator, config, args)
        return run_batch(translator, config, args)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"nmt translate: warning: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- batch mode


def format_results(translations, first_index: int, nbest: bool, tokenizer=None) -> str:
    """Plain: one line each. n-best: `index<TAB>score<TAB>text` rows, index counted from 0 as in
    Moses n-best lists; an empty input line gets one row with score 0 and no text. With a
    `tokenizer` (--print-alignment), each row ends with a TAB and the hard word alignment."""
    if not nbest:
        return "".join(t.text + _alignment_column(t, 0, tokenizer) + "\n" for t in translations)
    rows = []
    for index, t in enumerate(translations, first_index):
        pairs = list(zip(t.hypotheses, t.texts)) or [(None, "")]
        rows += [f"{index}\t{h.score if h else 0.0:.4f}\t{text}{_alignment_column(t, rank, tokenizer)}\n"
                 for rank, (h, text) in enumerate(pairs)]
    return "".join(rows)


def _alignment_column(translation, rank: int, tokenizer) -> str:
    if tokenizer is None:
        return ""
    if not translation.hypotheses:
        return "\t"
    from nmt.decoding.alignment import alignment_of, format_hard_alignment, hard_alignment

    return "\t" + format_hard_alignment(hard_alignment(alignment_of(translation, tokenizer, rank)))


def run_batch(translator, config, args: argparse.Namespace) -> int:
    started, done, plot_text = time.perf_counter(), 0, None
    with open_source(args.input) as source, open_output(args.output) as out, \
            progress_bar(source.lines, args.quiet) as bar:
        lines = numbered_lines(source)
        while chunk := list(itertools.islice(lines, CHUNK_LINES)):
            translations = translator.translate(chunk, config, progress=bar.update, first_line=done + 1,
                                                attention=args.print_alignment, prefix=args.prefix or None)
            aligned = translator.tokenizer if args.print_alignment else None
            out.write(format_results(translations, done, args.nbest is not None, aligned).encode("utf-8"))
            out.flush()
            if done < args.plot_line <= done + len(chunk):
                plot_text = chunk[args.plot_line - done - 1]
            done += len(chunk)
    if args.attention_plot is not None:
        if plot_text is None:
            raise NMTError(f"--plot-line {args.plot_line}: the input has only {done} line(s)")
        _plot(translator, config, plot_text, args.attention_plot, args.plot_line, args.prefix)
    if not args.quiet:
        seconds = time.perf_counter() - started
        print(f"translated {done} lines in {seconds:.1f} s ({done / max(seconds, 1e-9):.1f} lines/s, "
              f"beam {config.beam_size})", file=sys.stderr)
    return 0


def _plot(translator, config, text: str, path: Path, line: int, prefix: str) -> None:
    if not text.strip():
        raise NMTError(f"--plot-line {line}: the line is empty, so there is no attention to plot")
    translation = translator.translate([text], config, attention=True, prefix=prefix or None)[0]
    _plot_translation(translation, translator.tokenizer, path, f"line {line}: {text}")


# ----------------------------------------------------------------------------- interactive


def render(translation, tokenizer, nbest: bool, show_alignment: bool) -> list[str]:
    """What the prompt prints for one translation."""
    from nmt.decoding.alignment import alignment_of, format_alignment

    if nbest:
        lines = [f"{rank:>2}  {h.score:9.4f}  {text}"
                 for rank, (h, text) in enumerate(zip(translation.hypotheses, translation.texts), 1)]
    else:
        lines = [translation.text]
    if show_alignment:
        lines += format_alignment(alignment_of(translation, tokenizer))
    return lines


def run_interactive(translator, config, args: argparse.Namespace) -> int:
    from nmt.commands.interactive import (PromptSettings, default_history_file, is_command, line_history, repl,
                                          run_command, sentence_of)

    settings = PromptSettings(config, nbest=args.nbest is not None, align=args.show_alignment, prefix=args.prefix,
                              can_align=translator.has_attention)
    count = itertools.count(1)

    def respond(line: str) -> list[str]:
        if is_command(line):
            return run_command(line, settings)
        number = next(count)
        attention = settings.align or args.attention_plot is not None
        translation = translator.translate([sentence_of(line)], settings.config, attention=attention,
                                           first_line=number, prefix=settings.prefix or None)[0]
        lines = render(translation, translator.tokenizer, settings.nbest, settings.align)
        if args.attention_plot is not None:
            _plot_translation(translation, translator.tokenizer, args.attention_plot, line)
            lines.append(f"(attention plot: {args.attention_plot})")
        return lines

    meta = translator.tokenizer.meta
    models = " + ".join(map(str, args.model_dir))
    print(f"{models}: {meta.get('src_lang', 'source')} to {meta.get('tgt_lang', 'target')}, beam "
          f"{config.beam_size}. Type a sentence; :help lists commands, Ctrl-D quits, Ctrl-C drops a line.",
          file=sys.stderr, flush=True)
    with line_history(args.history or default_history_file()):
        return repl(respond, write=lambda text: print(text, flush=True))


def _plot_translation(translation, tokenizer, path: Path, text: str) -> None:
    from nmt.decoding.alignment import alignment_of, plot_attention

    plot_attention(alignment_of(translation, tokenizer), path, title=text[:120])
