"""The served models and what a request does with them, apart from HTTP.

A request is checked against the server's limits (each error names the request field), its
search options are laid over the model's own (`SearchConfig`), its sentences are queued in the
`Batcher` and decoded by the same `Translator.translate` as `nmt translate`, and the results are
shaped into the response. `nmt.serving.app` only maps these calls and errors to routes.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Optional, Sequence

from pydantic import ValidationError

from nmt.config import SearchConfig, ServeConfig, TranslatorConfig, format_validation_error
from nmt.decoding.alignment import alignment_of, format_hard_alignment, hard_alignment
from nmt.decoding.translator import Translation, Translator
from nmt.errors import NMTError
from nmt.serving.batcher import Batcher, QueueFull, ShuttingDown
from nmt.serving.schema import (Attention, Hypothesis, ModelInfo, OpenNMTItem, OpenNMTResult, SentenceTranslation,
                                TranslateRequest, TranslateResponse)

if TYPE_CHECKING:
    from nmt.serving.worker import DecoderProcess

RETRY_AFTER_S = 1  # what a 503 asks the client to wait


class RequestError(Exception):
    """A request the server refuses: an HTTP status and one line naming the field."""

    def __init__(self, status: int, message: str, retry_after: Optional[int] = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass
class ServedModel:
    name: str
    translator: Translator
    info: ModelInfo


class BatchKey(NamedTuple):
    """What the sentences of one decoding batch must share."""

    model: str
    search: SearchConfig
    attention: bool


def parse_model_specs(specs: Sequence[str]) -> list[tuple[str, Path]]:
    """`DIR` or `NAME=DIR` -> (name, directory); an unnamed directory is named after its run
    (`runs/<run>/export` -> `<run>`), else after itself. Names must be unique."""
    named = []
    for spec in specs:
        name, sep, directory = spec.partition("=")
        if not sep:
            path = Path(spec)
            name, directory = (path.parent.name if path.name == "export" and path.parent.name else path.name) or "model", spec
        if not name:
            raise NMTError(f"{spec}: an empty model name (use NAME=MODEL_DIR)")
        named.append((name, Path(directory)))
    seen = set()
    for name, _ in named:
        if name in seen:
            raise NMTError(f"two models named {name!r}: name them with NAME=MODEL_DIR")
        seen.add(name)
    return named


def model_info(name: str, directory: Path, translator: Translator, options: TranslatorConfig) -> ModelInfo:
    from nmt.export import inspect_export

    config = inspect_export(directory).config
    return ModelInfo(name=name, directory=str(directory), src_lang=config.data.src_lang, tgt_lang=config.data.tgt_lang,
                     attention=translator.has_attention, search=translator.search_config.model_dump(),
                     options=options.model_dump(), config={"model": config.model.model_dump(mode="json")})


class TranslationService:
    """Models by name, the batcher that decodes for all of them, and the request limits."""

    def __init__(self, models: Sequence[ServedModel], config: ServeConfig = ServeConfig(),
                 decoder: Optional["DecoderProcess"] = None):
        if not models:
            raise NMTError("no model to serve")
        self.decoder = decoder  # decodes in a child process; None: on the batcher's thread
        self.models = {served.name: served for served in models}
        self.default = models[0].name
        self.config = config
        self.batcher = Batcher(self._decode, max_tokens=config.max_batch_tokens, max_wait_s=config.max_wait_ms / 1000,
                               max_queue=config.max_queue, enabled=config.batching)

    @classmethod
    def load(cls, specs: Sequence[str], config: ServeConfig = ServeConfig(),
             options: TranslatorConfig = TranslatorConfig(), device: str = "cpu",
             threads: Optional[int] = None) -> "TranslationService":
        """Load the models here (a bad directory fails fast, with its one-line error), and again
        in the decoding process when `config.decoder_process` is on."""
        named = parse_model_specs(specs)
        models = []
        for name, directory in named:
            translator = Translator.load(directory, device=device, options=options)
            models.append(ServedModel(name, translator, model_info(name, directory, translator, options)))
        decoder = None
        if config.decoder_process:
            from nmt.serving.worker import DecoderProcess

            decoder = DecoderProcess(named, options, device=device, threads=threads)
        return cls(models, config, decoder)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "TranslationService":
        self.batcher.start()
        return self

    def close(self) -> None:
        """Decode what is queued, then stop."""
        self.batcher.close()
        if self.decoder is not None:
            self.decoder.close()

    @property
    def ready(self) -> bool:
        """Decoding runs: the batcher takes work and the decoding process (if any) is alive."""
        return self.batcher.running and (self.decoder is None or self.decoder.process.is_alive())

    # ------------------------------------------------------------------ requests

    async def translate(self, request: TranslateRequest) -> TranslateResponse:
        served = self._model(request.model, "model")
        self._check_sentences(request.sentences, "sentences")
        search = self._search_config(served, request)
        wants_weights = request.alignment or request.attention
        if wants_weights and not served.translator.has_attention:
            field = "attention" if request.attention else "alignment"
            raise RequestError(400, f"{field}: model {served.name!r} has no attention")
        results = await self._decode_async(BatchKey(served.name, search, wants_weights), request.sentences, served)
        tokenizer = served.translator.tokenizer
        shaped = []
        for result in results:
            shaped.append(SentenceTranslation(
                text=result.text, truncated=result.truncated,
                nbest=[Hypothesis(text=text, score=h.score, log_prob=h.log_prob)
                       for text, h in zip(result.texts, result.hypotheses)]))
            if wants_weights and result.hypotheses:
                alignment = alignment_of(result, tokenizer)
                if request.alignment:
                    shaped[-1].alignment = format_hard_alignment(hard_alignment(alignment))
                if request.attention:
                    weights = [[round(w, 4) for w in row] for row in alignment.weights.tolist()]
                    shaped[-1].attention = Attention(source=alignment.source, target=alignment.target, weights=weights)
        return TranslateResponse(model=served.name, translations=shaped)

    async def translate_opennmt(self, items: list[OpenNMTItem]) -> list[list[OpenNMTResult]]:
        """OpenNMT-py's REST format: one list of results per n-best rank (here one: the best),
        each in input order. Items may name different models; each model's run is batched."""
        if not items:
            raise RequestError(400, "body: an empty list; send [{\"src\": ..., \"id\": ...}]")
        self._check_sentences([item.src for item in items], "src", indexed_as="[{}].src")
        groups: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            name = self._model(None if item.id is None else str(item.id), f"[{index}].id").name
            groups.setdefault(name, []).append(index)
        out: list[Optional[OpenNMTResult]] = [None] * len(items)
        for name, indices in groups.items():
            served = self.models[name]
            key = BatchKey(name, served.translator.search_config.model_copy(update={"nbest": 1}), False)
            results = await self._decode_async(key, [items[i].src for i in indices], served)
            for index, result in zip(indices, results):
                score = result.hypotheses[0].score if result.hypotheses else 0.0
                out[index] = OpenNMTResult(src=items[index].src, tgt=result.text, n_best=1, pred_score=score)
        return [out]

    def model_infos(self) -> list[ModelInfo]:
        return [served.info for served in self.models.values()]

    def stats(self) -> dict:
        stats = self.batcher.stats
        return {"batches": stats.batches, "sentences": stats.sentences, "requests": stats.requests,
                "refused": stats.refused, "largest_batch": stats.largest, "queued": self.batcher.queued,
                "mean_batch": round(stats.sentences / stats.batches, 2) if stats.batches else 0.0}

    # ------------------------------------------------------------------ helpers

    def _model(self, name: Optional[str], field: str) -> ServedModel:
        if name is None:
            return self.models[self.default]
        if name not in self.models:
            raise RequestError(400, f"{field}: unknown model {shown(name)}; served: {', '.join(self.models)}")
        return self.models[name]

    def _check_sentences(self, sentences: list[str], field: str, indexed_as: str = "{field}[{}]") -> None:
        limit = self.config.max_sentences
        if not sentences:
            raise RequestError(400, f"{field}: an empty list; send at least one sentence")
        if len(sentences) > limit:
            raise RequestError(413, f"{field}: {len(sentences)} sentences; this server takes at most {limit} a request")
        for index, sentence in enumerate(sentences):
            if len(sentence) > self.config.max_sentence_chars:
                where = indexed_as.format(index, field=field)
                raise RequestError(413, f"{where}: {len(sentence)} characters; this server takes at most "
                                        f"{self.config.max_sentence_chars} a sentence")

    def _search_config(self, served: ServedModel, request: TranslateRequest) -> SearchConfig:
        given = {name: getattr(request, name) for name in TranslateRequest.SEARCH if getattr(request, name) is not None}
        for name in ("beam_size", "nbest"):
            if given.get(name, 0) > self.config.max_beam:
                raise RequestError(400, f"{name}: {given[name]} is more than this server's max_beam {self.config.max_beam}")
        merged = served.translator.search_config.model_dump() | given
        try:
            search = SearchConfig.model_validate(merged)
        except ValidationError as err:
            if not err.errors()[0]["loc"]:  # nbest > beam_size
                raise RequestError(400, f"nbest: {merged['nbest']} is more than beam_size {merged['beam_size']}") from None
            raise RequestError(400, format_validation_error(err, SearchConfig)) from None
        if search.coverage_penalty and not served.translator.has_attention:
            raise RequestError(400, f"coverage_penalty: model {served.name!r} has no attention")
        return search

    async def _decode_async(self, key: BatchKey, lines: list[str], served: ServedModel) -> list[Translation]:
        translator = served.translator
        pieces = translator.tokenizer.encode_src([line.strip() for line in lines])
        tokens = sum(min(len(ids), translator.max_src_tokens) + 1 for ids in pieces)
        try:
            future = self.batcher.submit(key, lines, tokens)
        except QueueFull:
            raise RequestError(503, f"the queue is full ({self.config.max_queue} sentences); retry later",
                               retry_after=RETRY_AFTER_S) from None
        except ShuttingDown:
            raise RequestError(503, "the server is shutting down", retry_after=RETRY_AFTER_S) from None
        waiting = asyncio.wrap_future(future)
        try:
            return await asyncio.wait_for(waiting, timeout=self.config.request_timeout_s)
        except asyncio.TimeoutError:
            raise RequestError(503, f"not decoded within request_timeout_s ({self.config.request_timeout_s:g} s); "
                                    f"retry later", retry_after=RETRY_AFTER_S) from None
        except NMTError as err:
            raise RequestError(400, str(err)) from None

    def _decode(self, key: BatchKey, lines: list[str]) -> list[Translation]:
        """The batcher's decoding call, on its thread."""
        if self.decoder is not None:
            return self.decoder.decode(key.model, key.search, key.attention, lines)
        return self.models[key.model].translator.translate(lines, key.search, attention=key.attention)


def shown(value, limit: int = 60) -> str:
    """A client's value in an error line, cut short: the line stays one short line."""
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "..." + text[-1:]
