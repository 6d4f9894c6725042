"""Attention read as an alignment: which source pieces each output piece looked at.

Two views of one translation's attention weights (target pieces x source pieces): text, one line
per output piece with the source piece it weighs most (for the interactive prompt), and a heat map
(a PNG, SVG or PDF through matplotlib's Agg-backed `Figure`, so no display or global backend is
involved). The source side ends with `</s>`: the encoder read it, and a model often parks
attention there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from nmt.errors import NMTError
from nmt.tokenizer import Tokenizer
from nmt.decoding.translator import Translation
from nmt.vocab import EOS_PIECE


@dataclass
class Alignment:
    source: list[str]  # source pieces fed to the model, then </s>
    target: list[str]  # output pieces (search keeps no weights for the final </s>)
    weights: Tensor  # (len(target), len(source)) attention per output piece; rows sum to 1


def alignment_of(translation: Translation, tokenizer: Tokenizer, rank: int = 0) -> Alignment:
    """The alignment of hypothesis `rank` of a translation searched with `attention=True`."""
    if not translation.hypotheses:
        raise NMTError("an empty line has no translation, so no attention")
    hypothesis = translation.hypotheses[rank]
    if hypothesis.attention is None:
        raise NMTError("no attention weights: the model has none, or the search was not asked for them")
    source = [tokenizer.src_model.id_to_piece(i) for i in translation.src_ids] + [EOS_PIECE]
    target = tokenizer.tgt_pieces(hypothesis.tokens)
    return Alignment(source, target, hypothesis.attention.float().cpu())


def format_alignment(alignment: Alignment) -> list[str]:
    """`target piece  <- source piece  weight`, one line per output piece."""
    if not alignment.target:
        return []
    weight, column = alignment.weights.max(dim=1)  # (tgt,) strongest source position per output piece
    width = max(len(piece) for piece in alignment.target)
    src_width = max(len(alignment.source[j]) for j in column.tolist())
    return [f"  {piece:<{width}}  <- {alignment.source[j]:<{src_width}}  {w:.2f}"
            for piece, j, w in zip(alignment.target, column.tolist(), weight.tolist())]


def attention_figure(alignment: Alignment, title: str = ""):
    """A matplotlib `Figure`: source pieces along x, output pieces down y, darker = more weight."""
    from matplotlib.figure import Figure

    rows, columns = alignment.weights.shape
    figure = Figure(figsize=(min(2.0 + 0.35 * columns, 40.0), min(1.5 + 0.3 * rows, 40.0)), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(alignment.weights.numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(columns), alignment.source, rotation=90)
    axes.set_yticks(range(rows), alignment.target)
    axes.xaxis.tick_top()
    axes.xaxis.set_label_position("top")
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    if title:
        figure.suptitle(title, fontsize="small")
    figure.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
    return figure


def check_plot_path(path: Path) -> None:
    """Fail before any translation work if the plot cannot be written: a missing folder, a format
    matplotlib does not know."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lstrip(".").lower()
    if suffix not in formats:
        raise NMTError(f"{path}: unknown plot format {suffix!r} (use .png, .svg or .pdf)")
    if not Path(path).parent.is_dir():
        raise NMTError(f"{path}: folder {Path(path).parent} does not exist")


def plot_attention(alignment: Alignment, path: Path, title: str = "") -> None:
    """Write the heat map to `path`; the format follows its suffix (.png, .svg, .pdf)."""
    if not alignment.target:
        raise NMTError("the translation is empty: no attention to plot")
    try:
        attention_figure(alignment, title).savefig(path, dpi=120)
    except (OSError, ValueError) as err:  # a missing folder, an unknown format
        raise NMTError(f"{path}: cannot write the attention plot ({err})") from None


WORD_START = "\u2581"  # SentencePiece's mark of a piece that begins a word


def word_indices(pieces: list[str]) -> list[int]:
    """The word each piece belongs to: a new word at every piece that starts with ▁."""
    indices, word = [], -1
    for position, piece in enumerate(pieces):
        if position == 0 or piece.startswith(WORD_START):
            word += 1
        indices.append(word)
    return indices


def hard_alignment(alignment: Alignment) -> list[tuple[int, int]]:
    """(source word, target word) pairs, each output piece linked to the source piece it attends
    to most (</s> left out), pieces merged into words; sorted by target word, then source word.
    The words are those of the detokenized text split on spaces, as fairseq and Marian count them."""
    if not alignment.target or len(alignment.source) < 2:
        return []
    column = alignment.weights[:, : len(alignment.source) - 1].argmax(dim=1).tolist()  # (tgt,) without </s>
    src_words = word_indices(alignment.source[:-1])
    tgt_words = word_indices(alignment.target)
    pairs = {(src_words[j], tgt_words[i]) for i, j in enumerate(column)}
    return sorted(pairs, key=lambda pair: (pair[1], pair[0]))


def format_hard_alignment(pairs: list[tuple[int, int]]) -> str:
    """`0-0 1-2 ...`: source-target word index pairs, as fairseq and Marian print them."""
    return " ".join(f"{i}-{j}" for i, j in pairs)
