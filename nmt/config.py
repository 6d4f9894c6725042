"""Typed configuration: every field, its type, its default and its valid choices in one place.

A config file has four sections, `data`, `model`, `train` and `search` (decoding defaults);
`nmt prepare` reads only `data`.
Unknown keys and bad values raise `ConfigError` with one line naming the field
(`model.decoder.attention: got 'luong_dot', valid: none, bahdanau, luong`).
String values may use `${VAR}` or `${VAR:-default}` to read the environment, so a recipe can
point at `${NMT_DATA_DIR:-data/multi30k}`.

Several files may be given; they are merged in order, section by section (`merge_trees`), so a
recipe states its data, its model and a profile (`cpu`: a time budget; `gpu`: train to
convergence) once each and combines them instead of copying whole configs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, Optional, Sequence, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nmt.errors import ConfigError


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ----------------------------------------------------------------------------- data


class CorpusConfig(Section):
    """One split of a parallel corpus: exactly one of (src, tgt), tsv, or hf."""

    src: Optional[Path] = None  # plain text, one sentence per line, aligned with tgt
    tgt: Optional[Path] = None
    tsv: Optional[Path] = None  # one pair per line: source <TAB> target (or as `columns` names them)
    # tsv only: the language of each column, e.g. [en, de] for Tatoeba's English<TAB>German, so
    # one file serves both directions (src_lang and tgt_lang pick the columns); None: source, target
    columns: Optional[list[str]] = None
    hf: Optional[str] = None  # Hugging Face hub name (e.g. "wmt/wmt14") or a `save_to_disk` directory
    hf_config: Optional[str] = None  # hub config name, e.g. "de-en"
    split: Optional[str] = None  # e.g. "train"; default: train / validation / test by the split's role

    @model_validator(mode="after")
    def _one_source(self) -> "CorpusConfig":
        kinds = [self.src is not None or self.tgt is not None, self.tsv is not None, self.hf is not None]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of (src and tgt), tsv, or hf")
        if kinds[0] and (self.src is None or self.tgt is None):
            raise ValueError("src and tgt must be given together")
        if self.columns is not None:
            if self.tsv is None:
                raise ValueError("columns names the languages of a tsv file's columns: give tsv")
            if len(self.columns) < 2 or len(set(self.columns)) != len(self.columns):
                raise ValueError(f"columns: give at least two distinct language names (got {self.columns})")
        return self

    def describe(self) -> str:
        if self.src is not None:
            return f"{self.src} + {self.tgt}"
        if self.tsv is not None:
            return str(self.tsv)
        parts = [self.hf, self.hf_config, self.split]
        return ":".join(p for p in parts if p)


class CleanConfig(Section):
    """Training-pair filters. Every dropped pair is counted by reason and reported."""

    max_words: int = Field(250, ge=1)  # whitespace words per side, before subwords
    max_ratio: float = Field(9.0, ge=1.0)  # longer/shorter side in words; pairs above are dropped
    max_pieces: int = Field(100, ge=1)  # subword pieces per side (training split only)


class HoldoutConfig(Section):
    """Validation and test sets carved out of the training corpus (nmt/data/holdout.py): pairs
    held out in a seeded random order, and every training pair sharing a source or a target
    sentence with one of them removed. For corpora that come without a split, such as Tatoeba."""

    test: int = Field(0, ge=0)  # pairs held out as the test set (replaces data.test)
    valid: int = Field(0, ge=0)  # pairs held out for validation (replaces data.valid)
    seed: int = 1234  # the order pairs are drawn in

    @property
    def carves(self) -> bool:
        return bool(self.test or self.valid)


class TokenizerConfig(Section):
    """SentencePiece options. Special ids are fixed: pad 0, unk 1, bos 2, eos 3."""

    type: Literal["unigram", "bpe"] = "unigram"
    vocab_size: int = Field(8000, ge=8)
    joint: bool = True  # one model for both languages (needed to tie source and target embeddings)
    character_coverage: float = Field(1.0, gt=0.0, le=1.0)  # 0.9995 is usual for CJK scripts
    # sentences sampled for training (both sides when joint); 0 = all. SentencePiece holds the
    # whole sample in memory, so this also bounds its peak memory on big corpora.
    input_sentence_size: int = Field(2_000_000, ge=0)
    seed: int = 1234  # sampling seed when input_sentence_size caps a large corpus
    # seen: the model's target vocabulary keeps only the pieces that occur in the training targets
    # (a joint de+en 8k model uses ~4k on the English side: the output layer, the widest matrix,
    # halves); all: every piece of the SentencePiece model (needed to tie source and target embeddings)
    target_pieces: Literal["seen", "all"] = "seen"


class SubwordSamplingConfig(Section):
    """Subword regularization: each training pair gets a fresh segmentation every epoch, drawn by
    SentencePiece (`nmt.data.sampling`); validation, test and translation keep the best one.

    unigram models: sampling (Kudo 2018), alpha the smoothing of the segmentation distribution
    (small: flat, many pieces; 0.2-0.5 usual). bpe models: BPE-dropout (Provilkov et al. 2020),
    alpha the probability of dropping each merge (0.1 usual).
    """

    alpha: float = Field(0.0, ge=0.0)  # 0: off
    nbest_size: int = Field(-1, ge=-1)  # unigram: draw among the nbest_size best segmentations; -1: all

    @model_validator(mode="after")
    def _sensible(self) -> "SubwordSamplingConfig":
        if self.nbest_size in (0, 1):
            raise ValueError("nbest_size must be -1 (all segmentations) or at least 2 (1 would never sample)")
        return self

    @property
    def enabled(self) -> bool:
        return self.alpha > 0.0


class DataConfig(Section):
    name: str = Field(..., min_length=1)  # tokenizers/<name>/ and the cache folder use it
    src_lang: str = "src"
    tgt_lang: str = "tgt"
    train: CorpusConfig
    valid: Optional[CorpusConfig] = None
    test: Optional[CorpusConfig] = None
    holdout: HoldoutConfig = HoldoutConfig()  # carve valid/test out of train; off (0, 0) by default
    clean: CleanConfig = CleanConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    tokenizer_dir: Path = Path("tokenizers")  # models go to <tokenizer_dir>/<name>/
    cache_dir: Path = Path(".cache/nmt")  # Arrow token-id caches
    batch_tokens: int = Field(4096, ge=1)  # padded tokens per batch: sentences * max(src, tgt) length
    valid_batch_tokens: int = Field(8192, ge=1)
    num_workers: int = Field(0, ge=0)  # DataLoader workers; 0 is fastest on 2 cores
    # processes encoding the cache; None = all cores, but at least 10,000 pairs per process
    num_proc: Optional[int] = Field(None, ge=1)
    subword_sampling: SubwordSamplingConfig = SubwordSamplingConfig()  # training pairs only; off by default

    @property
    def has_valid(self) -> bool:
        """A validation set is given or carved out of train."""
        return self.valid is not None or self.holdout.valid > 0

    @property
    def has_test(self) -> bool:
        return self.test is not None or self.holdout.test > 0

    @model_validator(mode="after")
    def _one_source_per_split(self) -> "DataConfig":
        for split in ("valid", "test"):
            if getattr(self.holdout, split) and getattr(self, split) is not None:
                raise ValueError(f"give data.{split} or data.holdout.{split}, not both")
        if self.holdout.carves and self.src_lang == self.tgt_lang:
            raise ValueError("data.holdout needs distinct src_lang and tgt_lang (they name its files)")
        return self

    @model_validator(mode="after")
    def _dropout_probability(self) -> "DataConfig":
        if self.tokenizer.type == "bpe" and self.subword_sampling.alpha >= 1.0:
            raise ValueError(f"subword_sampling.alpha is BPE-dropout's probability for a bpe tokenizer: "
                             f"it must be below 1 (got {self.subword_sampling.alpha})")
        return self


# ----------------------------------------------------------------------------- model

Cell = Literal["rnn", "gru", "lstm"]


class EncoderConfig(Section):
    cell: Cell = "lstm"
    emb_size: int = Field(256, ge=1)
    hidden_size: int = Field(256, ge=1)  # per direction
    layers: int = Field(1, ge=1)
    bidirectional: bool = True
    dropout: float = Field(0.3, ge=0.0, lt=1.0)


class DecoderConfig(Section):
    cell: Cell = "lstm"
    emb_size: int = Field(256, ge=1)
    hidden_size: int = Field(512, ge=1)
    layers: int = Field(1, ge=1)
    dropout: float = Field(0.3, ge=0.0, lt=1.0)
    # none: the context vector is fed at every step (Cho et al. 2014); bahdanau: additive over
    # the previous decoder state; luong: over the current decoder state, scored by `score`.
    attention: Literal["none", "bahdanau", "luong"] = "luong"
    score: Literal["dot", "general"] = "general"  # Luong score; ignored otherwise
    # luong only: feed the previous attentional vector into the next step (bahdanau and none
    # already feed a context into every step); off lets training run the fused path
    input_feeding: bool = True
    # output layer shares the target embedding matrix; the attentional vector is then emb_size wide
    tie_embeddings: bool = False


class ModelConfig(Section):
    encoder: EncoderConfig = EncoderConfig()
    decoder: DecoderConfig = DecoderConfig()
    # dense: join directions, project, tanh (per decoder layer, aligned from the top; an LSTM
    # decoder's cell starts at 0); zeros: start from the zero state
    bridge: Literal["dense", "zeros"] = "dense"
    tie_src_tgt_embeddings: bool = False  # needs a joint tokenizer
    # how the weights start (nmt/model/initialization.py): uniform: every weight and bias drawn
    # from U(-init_range, init_range), OpenNMT-py's and Joey NMT's usual setting; xavier: per
    # part (Xavier input and linear weights, orthogonal recurrent weights, LSTM forget bias 1,
    # embeddings and output normal 1/sqrt(width)); torch: each layer's PyTorch default
    init: Literal["uniform", "xavier", "torch"] = "uniform"
    init_range: float = Field(0.1, gt=0.0)  # uniform only


# ----------------------------------------------------------------------------- search


class SearchConfig(Section):
    """Decoding defaults a model carries in its config; `nmt translate` options override them.

    Lengths count output tokens without BOS/EOS; the length penalty counts the final EOS too.
    """

    beam_size: int = Field(5, ge=1)  # 1: greedy search (argmax at each step)
    nbest: int = Field(1, ge=1)  # hypotheses returned per sentence, best first; at most beam_size
    # ranks finished hypotheses: gnmt: log_prob / ((5 + len) / 6) ** alpha (Wu et al. 2016);
    # length: log_prob / len (plain length normalisation); none: log_prob (favours short outputs)
    length_penalty: Literal["gnmt", "length", "none"] = "gnmt"
    alpha: float = Field(0.6, ge=0.0)  # gnmt exponent: 0 is none, 0.6 the usual choice
    max_len_ratio: float = Field(1.5, ge=0.0)  # at most ratio * source tokens + max_len_const
    max_len_const: int = Field(10, ge=0)
    max_len: int = Field(256, ge=1)  # hard cap on output tokens, whatever the source length
    min_len: int = Field(1, ge=0)  # EOS is masked until this many tokens are out; the max wins
    # when a sentence's beam search stops: once no open hypothesis can outrank its n-best, even at
    # the longest length the penalty allows (False: the best the beam can find), or if it ended at
    # the next step (True: Hugging Face's heuristic; ~15 % fewer steps, may miss a longer winner)
    early_stop: bool = False
    # beam search: + beta * sum_j log(min(attention mass on source word j, 1)) to a finished
    # hypothesis' score (Wu et al. 2016): favours outputs that attend to every source word
    coverage_penalty: float = Field(0.0, ge=0.0)  # beta; 0: off; needs a model with attention
    no_repeat_ngram: int = Field(0, ge=0)  # no n-gram of this many pieces twice in an output; 0: off
    # sampling instead of search: each of the nbest outputs drawn token by token from the
    # model's distribution (back-translation, diverse n-best); beam_size is then not used
    sampling: bool = False
    temperature: float = Field(1.0, gt=0.0)  # divides the logits: < 1 sharper, > 1 flatter
    top_k: int = Field(0, ge=0)  # draw from the k most probable pieces only; 0: all
    top_p: float = Field(1.0, gt=0.0, le=1.0)  # nucleus: the fewest pieces holding this probability mass
    seed: int = 1  # the sampling generator's seed: the same seed and batch give the same samples

    @model_validator(mode="after")
    def _nbest_fits(self) -> "SearchConfig":
        if self.nbest > self.beam_size and not self.sampling:
            raise ValueError(f"nbest ({self.nbest}) must be at most beam_size ({self.beam_size})")
        return self

    def fixed_length(self, n: int) -> "SearchConfig":
        """This config with every output exactly `n` tokens: the same search work whatever the
        model would end, so speed comparisons (benchmarks) are like for like."""
        return self.model_copy(update={"min_len": n, "max_len": n, "max_len_ratio": 0.0, "max_len_const": n})


class ShortlistConfig(Section):
    """How a batch's vocabulary shortlist is made (`nmt.decoding.shortlist.LexicalTable.candidates`).

    These defaults are what `--shortlist` alone means. On the Luong recipe model (test2016 de-en,
    batch 1 and 64, fp32 and int8) 100,20,1000 changed beam-5 BLEU by +0.11 to +0.45 against exact
    fp32 search and greedy by -0.05 to +0.07 (docs/decoding.md, "Shortlist size").
    """

    frequent: int = Field(100, ge=0)  # the most frequent target pieces, always in
    per_source: int = Field(20, ge=0)  # the best translations of every source piece in the batch
    # At least this many rows, topped up with the next most frequent pieces. A single sentence's
    # union is small (about 200 rows at 100,20 on Multi30k), and greedy search has no second beam
    # to recover a missing word: at batch 1 the Luong recipe model lost 0.37 BLEU greedy without
    # it and at most 0.10 with 1,000 rows, for 5-13 % of the batch-1 rate; batches of 64 hold
    # 1,236+ rows on test2016 and are unchanged.
    min_rows: int = Field(1000, ge=0)

    @classmethod
    def parse(cls, text: str) -> "ShortlistConfig":
        """`F,K` or `F,K,M` (the command-line form); M defaults to `min_rows`'s default."""
        try:
            sizes = [int(x) for x in text.split(",")]
            if len(sizes) not in (2, 3):
                raise ValueError
        except ValueError:
            default = cls()
            raise ConfigError(f"expected F,K or F,K,M (e.g. {default.frequent},{default.per_source}), "
                              f"got {text!r}") from None
        if min(sizes) < 0:
            raise ConfigError(f"sizes must be >= 0, got {text!r}")
        return cls.of(sizes)

    @classmethod
    def of(cls, sizes: Sequence[int]) -> "ShortlistConfig":
        """From (frequent, per_source[, min_rows]), the order of `sizes()` and of `F,K[,M]`."""
        return cls(**dict(zip(cls.model_fields, sizes)))

    def sizes(self) -> tuple[int, int, int]:
        """(frequent, per_source, min_rows): the arguments of `LexicalTable.candidates`."""
        return self.frequent, self.per_source, self.min_rows

    def __str__(self) -> str:
        return ",".join(map(str, self.sizes()))


class TranslatorConfig(Section):
    """How a `Translator` runs, as opposed to how it searches (`SearchConfig`): a property of
    the place it runs, not of the model, so not part of a model's config file."""

    batch_size: int = Field(64, ge=1)  # sentences searched together
    max_src_tokens: int = Field(400, ge=1)  # longer source lines are cut to this many pieces, with a warning
    int8: bool = False  # CPU only: int8 dynamic quantization of the decoder's products
    shortlist: Optional[ShortlistConfig] = None  # decode over a vocabulary shortlist (needs shortlist.safetensors)
    # an ensemble's next-token distribution: the mean of the members' probabilities, or of their
    # log-probabilities (nmt.decoding.ensemble)
    combine: Literal["probability", "log_probability"] = "probability"


class ServeConfig(Section):
    """How `nmt serve` runs: where it listens, how it batches concurrent requests and what a
    request may ask for. Limits have safe defaults: nothing a client sends can hold the server."""

    host: str = "127.0.0.1"  # loopback only; 0.0.0.0 opens the port to the network
    port: int = Field(8080, ge=0, le=65535)  # 0: any free port (printed at start-up)
    # sentences of concurrent requests decoded in one batch: up to max_batch_tokens source pieces,
    # waiting at most max_wait_ms after the first for more to arrive; off: one request at a time
    batching: bool = True
    max_batch_tokens: int = Field(4096, ge=1)
    max_wait_ms: float = Field(20.0, ge=0.0)
    # decode in a child process (its own GIL and copy of the models) rather than on a thread of
    # the HTTP process; False: one process, for tests and debugging
    decoder_process: bool = True
    max_queue: int = Field(1024, ge=1)  # sentences waiting; beyond: 503 with Retry-After at once
    max_sentences: int = Field(256, ge=1)  # per request
    max_sentence_chars: int = Field(2000, ge=1)  # per sentence
    max_beam: int = Field(16, ge=1)  # the largest beam_size (and nbest) a request may ask for
    request_timeout_s: float = Field(60.0, gt=0.0)  # a request still queued after this: 503
    api_key: Optional[str] = None  # bearer token required by every endpoint but /health (and the page)


# ----------------------------------------------------------------------------- train


class TrainConfig(Section):
    run_dir: Path = Path("runs")  # runs/<name>/ holds config, logs, checkpoints, export/
    name: Optional[str] = None  # defaults to data.name
    seed: int = 1234
    threads: Optional[int] = Field(None, ge=1)  # torch CPU threads; None = all cores
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    devices: int = Field(1, ge=1)  # per node: GPUs (or CPU processes); >1 trains with DDP
    # machines; >1 trains with DDP across them: launch one process per device on each node
    # (torchrun --nnodes, SLURM srun --ntasks-per-node=devices; docs/training.md#multi-node-training)
    num_nodes: int = Field(1, ge=1)
    precision: Literal["auto", "32", "bf16-mixed"] = "auto"  # auto: bf16-mixed only where native

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = Field(0.0, ge=0.0)  # sgd only
    schedule: Literal["constant", "inverse_sqrt", "plateau", "step"] = "constant"
    warmup_steps: int = Field(0, ge=0)  # linear warmup, for any schedule
    plateau_factor: float = Field(0.5, gt=0.0, lt=1.0)
    plateau_patience: int = Field(2, ge=0)  # validations without improvement
    step_size: int = Field(10000, ge=1)  # steps between decays (schedule: step)
    step_gamma: float = Field(0.5, gt=0.0, le=1.0)
    min_lr: float = Field(0.0, ge=0.0)

    clip_grad_norm: Optional[float] = Field(1.0, gt=0.0)
    accumulate: int = Field(1, ge=1)  # batches per optimizer step
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0)
    teacher_forcing: float = Field(1.0, ge=0.0, le=1.0)  # probability of feeding the reference
    # linear / inverse_sigmoid decay the ratio from `teacher_forcing` towards 0 over training
    teacher_forcing_schedule: Literal["constant", "linear", "inverse_sigmoid"] = "constant"
    teacher_forcing_k: float = Field(2000.0, gt=0.0)  # schedule speed (steps)

    max_epochs: Optional[int] = Field(None, ge=1)
    max_steps: int = Field(-1, ge=-1)  # -1: no step limit
    max_minutes: Optional[float] = Field(None, gt=0.0)  # wall-clock budget for the training loop

    val_every_steps: Optional[int] = Field(None, ge=1)  # None: once per epoch
    val_bleu: bool = True  # decode the validation set through the Translator
    val_beam: int = Field(1, ge=1)
    val_max_sentences: Optional[int] = Field(None, ge=1)  # decode only the first N for BLEU
    monitor: Literal["bleu", "chrf", "loss", "ppl"] = "bleu"  # best checkpoint and early stopping
    early_stopping_patience: Optional[int] = Field(None, ge=1)  # validations; None: off
    checkpoint_every_steps: int = Field(500, ge=1)
    # weights-only checkpoints kept at validations for averaging: the K best and the K latest
    keep_checkpoints: int = Field(5, ge=0)
    average: Literal["none", "best", "last"] = "none"  # export the mean of those K instead of the best one
    log_every_steps: int = Field(20, ge=1)
    gradient_profile_every: Optional[int] = Field(None, ge=1)  # gradient diagnostics callback

    @property
    def monitor_metric(self) -> str:
        """bleu/chrf need val_bleu; without it the best model follows validation loss."""
        return self.monitor if self.val_bleu or self.monitor in ("loss", "ppl") else "loss"

    @model_validator(mode="after")
    def _schedule_options(self) -> "TrainConfig":
        if self.schedule == "plateau" and self.warmup_steps:
            raise ValueError("warmup_steps is not supported with schedule plateau (use inverse_sqrt or constant)")
        if self.schedule == "inverse_sqrt" and not self.warmup_steps:
            raise ValueError("schedule inverse_sqrt needs warmup_steps > 0")
        if self.average != "none" and not self.keep_checkpoints:
            raise ValueError(f"average: {self.average} needs keep_checkpoints > 0")
        return self


class Config(Section):
    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    search: SearchConfig = SearchConfig()  # decoding defaults for translate and validation

    @model_validator(mode="after")
    def _consistent(self) -> "Config":
        if self.model.tie_src_tgt_embeddings and self.data.tokenizer.target_pieces != "all":
            raise ValueError("model.tie_src_tgt_embeddings needs data.tokenizer.target_pieces: all")
        if self.model.tie_src_tgt_embeddings and not self.data.tokenizer.joint:
            raise ValueError("model.tie_src_tgt_embeddings needs data.tokenizer.joint: true")
        if self.model.tie_src_tgt_embeddings and self.model.encoder.emb_size != self.model.decoder.emb_size:
            raise ValueError("model.tie_src_tgt_embeddings needs equal encoder and decoder emb_size")
        return self

    @property
    def run_name(self) -> str:
        return self.train.name or self.data.name


# ----------------------------------------------------------------------------- loading

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand_env(value: Any, where: str) -> Any:
    """Replace ${VAR} / ${VAR:-default} in every string of a parsed YAML tree."""
    if isinstance(value, dict):
        return {k: _expand_env(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set (use ${{{name}:-default}})")

    return _ENV.sub(sub, value)


def _section_at(model: type[BaseModel], loc: tuple) -> Optional[type[BaseModel]]:
    """The pydantic model class reached by following `loc` from `model`, if any."""
    current: Any = model
    for key in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(key))
        if field is None:
            return None
        annotation = field.annotation
        for arg in getattr(annotation, "__args__", ()) or ():  # Optional[Section]
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                annotation = arg
        current = annotation
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def format_validation_error(error: ValidationError, root: type[BaseModel], prefix: str = "") -> str:
    """One line for the first problem: the dotted field, what is wrong, the valid choices."""
    first = error.errors()[0]
    loc = tuple(str(p) for p in first["loc"])
    field = ".".join((prefix,) + loc if prefix else loc) or "config"
    if first["type"] == "extra_forbidden":
        parent = _section_at(root, loc[:-1])
        valid = ", ".join(parent.model_fields) if parent else "?"
        message = f"{field}: unknown key (valid keys: {valid})"
    elif first["type"] == "literal_error":
        expected = first.get("ctx", {}).get("expected", "")
        message = f"{field}: got {first['input']!r}, valid: {expected.replace(chr(39), '')}"
    elif first["type"] == "missing":
        message = f"{field}: required key is missing"
    else:
        msg = first["msg"].removeprefix("Value error, ")
        got = first.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        message = f"{field}: {msg}{shown}"
    more = len(error.errors()) - 1
    return message + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.lr=0.002` -> (["train", "lr"], 0.002); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. train.lr=0.002")
    key, raw = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"override {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return path, value


def apply_overrides(tree: dict, overrides: list[str]) -> dict:
    for text in overrides:
        path, value = parse_override(text)
        node = tree
        for key in path[:-1]:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {key} is not a section")
            node = child
        node[path[-1]] = value
    return tree


def read_yaml(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} invalid YAML: {getattr(err, 'problem', err)}") from None
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: expected a mapping with data/model/train sections")
    return tree


def validate(model: type[BaseModel], tree: dict, source: str = "config", prefix: str = ""):
    try:
        return model.model_validate(_expand_env(tree, prefix))
    except ValidationError as err:
        raise ConfigError(f"{source}: {format_validation_error(err, model, prefix)}") from None


def merge_trees(base: dict, update: dict) -> dict:
    """`update` laid over `base` (neither is changed): mappings merge key by key, recursively;
    any other value, lists included, replaces the one below it."""
    merged = dict(base)
    for key, value in update.items():
        below = merged.get(key)
        merged[key] = merge_trees(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return merged


PathOrPaths = Union[str, Path, Sequence[Union[str, Path]]]


def config_paths(paths: PathOrPaths) -> list[Path]:
    return [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]


def read_configs(paths: PathOrPaths) -> dict:
    """The files merged in order: later files override single keys of earlier ones."""
    tree: dict = {}
    for path in config_paths(paths):
        tree = merge_trees(tree, read_yaml(path))
    return tree


def describe_sources(paths: PathOrPaths) -> str:
    """How errors name merged files: `a.yaml + b.yaml`."""
    return " + ".join(str(p) for p in config_paths(paths))


def load_config(paths: PathOrPaths, overrides: Optional[list[str]] = None) -> Config:
    """One config file, or several merged in order, then `KEY=VALUE` overrides."""
    tree = apply_overrides(read_configs(paths), overrides or [])
    return validate(Config, tree, source=describe_sources(paths))


def load_data_config(paths: PathOrPaths, overrides: Optional[list[str]] = None) -> DataConfig:
    """The `data:` section alone, for `nmt prepare`; other sections are checked too."""
    tree = apply_overrides(read_configs(paths), overrides or [])
    if "data" not in tree:
        raise ConfigError(f"{describe_sources(paths)}: data: required section is missing")
    return validate(Config, tree, source=describe_sources(paths)).data


def field_choices(section: type[BaseModel], field: str) -> list[str]:
    """The valid values of a `Literal` field, e.g. for a command-line option's `choices`."""
    annotation = section.model_fields[field].annotation
    choices = list(get_args(annotation))
    if get_origin(annotation) is not Literal or not choices:
        raise TypeError(f"{section.__name__}.{field} is not a Literal field")
    return choices


def field_default(section: type[BaseModel], field: str) -> Any:
    """A field's default, for a command-line option that shows or uses it."""
    return section.model_fields[field].get_default(call_default_factory=True)


def dump_config(config: BaseModel) -> str:
    """YAML with every default filled in: the resolved config saved with each run."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
