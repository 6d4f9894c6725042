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
