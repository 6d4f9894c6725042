"""The JSON bodies of the API, as pydantic models: FastAPI validates requests with them and
writes the OpenAPI description from them. Limits that depend on how the server was started
(sentences per request, sentence length, beam) are checked by `nmt.serving.service`."""

from __future__ import annotations

from typing import ClassVar, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """No unknown fields, no coercion ("5" is not a beam size, 1 is not true)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class TranslateRequest(Strict):
    sentences: list[str] = Field(description="source sentences; an empty one gets an empty translation")
    model: Optional[str] = Field(None, description="a model name from GET /v1/models (default: the first)")
    beam_size: Optional[int] = Field(None, ge=1, description="1 is greedy search (default: the model's)")
    nbest: Optional[int] = Field(None, ge=1, description="hypotheses per sentence, at most beam_size")
    length_penalty: Optional[Literal["gnmt", "length", "none"]] = None
    alpha: Optional[float] = Field(None, ge=0.0, description="gnmt length penalty exponent")
    max_len: Optional[int] = Field(None, ge=1, description="hard cap on output pieces")
    min_len: Optional[int] = Field(None, ge=0)
    no_repeat_ngram: Optional[int] = Field(None, ge=0, description="no n-gram of this many pieces twice; 0 is off")
    coverage_penalty: Optional[float] = Field(None, ge=0.0)
    alignment: bool = Field(False, description="hard word alignments, 'i-j' source-target word pairs")
    attention: bool = Field(False, description="the attention weights of the best hypothesis, with the pieces")

    SEARCH: ClassVar[tuple[str, ...]] = ("beam_size", "nbest", "length_penalty", "alpha", "max_len", "min_len", "no_repeat_ngram",
              "coverage_penalty")


class Hypothesis(BaseModel):
    text: str
    score: float = Field(description="log-probability divided by the length penalty: what the n-best is ranked by")
    log_prob: float


class Attention(BaseModel):
    source: list[str]  # source pieces, then </s>
    target: list[str]  # output pieces
    weights: list[list[float]]  # (len(target), len(source)); each row sums to 1


class SentenceTranslation(BaseModel):
    text: str
    nbest: list[Hypothesis]  # best first; empty for an empty sentence
    truncated: bool = Field(False, description="the source was cut to the server's max_src_tokens pieces")
    alignment: Optional[str] = None
    attention: Optional[Attention] = None


class TranslateResponse(BaseModel):
    model: str
    translations: list[SentenceTranslation]


class OpenNMTItem(Strict):
    """One element of OpenNMT-py's `POST /translator/translate` body."""

    src: str
    id: Optional[Union[int, str]] = Field(None, description="the model's name (NAME=DIR); default: the first")


class OpenNMTResult(BaseModel):
    src: str
    tgt: str
    n_best: int
    pred_score: float


class ModelInfo(BaseModel):
    name: str
    directory: str
    src_lang: Optional[str]
    tgt_lang: Optional[str]
    attention: bool
    search: dict  # the model's search defaults (SearchConfig)
    options: dict  # how it runs here (TranslatorConfig: int8, shortlist, ...)
    config: dict  # the exported config.yaml


class ErrorBody(BaseModel):
    error: str = Field(description="one line naming the field at fault")
