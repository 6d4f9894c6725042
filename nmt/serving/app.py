"""The HTTP layer: routes, the API key, body parsing and one-line JSON errors.

Bodies are read and parsed here rather than by FastAPI's own parameter binding, so that every
malformed request (too large, not UTF-8, not JSON, wrong types, unknown fields) gets a 4xx whose
`{"error": ...}` names the field, never a 500; the OpenAPI description still documents the
bodies from the pydantic models in `nmt.serving.schema`.
"""

from __future__ import annotations

import hmac
import json
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from nmt import __version__
from nmt.serving.schema import ErrorBody, ModelInfo, OpenNMTItem, OpenNMTResult, TranslateRequest, TranslateResponse
from nmt.serving.service import RequestError, TranslationService, shown

OPEN_PATHS = {"/health", "/"}  # no API key: liveness probes, and the page (it asks for the key itself)
OPENNMT_BODY = TypeAdapter(list[OpenNMTItem])


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _body_schema(schema: dict) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


ERRORS = {status: {"model": ErrorBody, "description": text} for status, text in (
    (400, "a field is malformed or out of range (the error names it)"), (401, "missing or wrong API key"),
    (413, "more sentences, characters or bytes than this server takes"),
    (503, "the queue is full or the server is stopping; retry after Retry-After seconds"))}


def create_app(service: TranslationService) -> FastAPI:
    config = service.config
    max_body = config.max_sentences * (config.max_sentence_chars * 4 + 16) + 65536  # UTF-8, JSON quoting, options
    app = FastAPI(title="nmt", version=__version__, docs_url=None, redoc_url=None,
                  description="Recurrent encoder-decoder translation: `POST /v1/translate` a list of sentences.")

    @app.middleware("http")
    async def require_api_key(request: Request, call_next):
        if config.api_key and request.url.path not in OPEN_PATHS:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), config.api_key.encode()):
                return _error(401, "authorization: send the header 'Authorization: Bearer <api key>'",
                              {"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, err: RequestError):
        headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else None
        return _error(err.status, err.message, headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException):
        return _error(err.status_code, f"{request.method} {request.url.path}: {err.detail}", err.headers)

    @app.exception_handler(Exception)
    async def server_error(request: Request, err: Exception):  # a bug, not the client's: still one line
        return _error(500, f"internal error: {type(err).__name__}: {err}")

    async def read_json(request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body:
            raise RequestError(413, f"body: {declared} bytes; this server takes at most {max_body}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                raise RequestError(413, f"body: more than {max_body} bytes; this server takes at most {max_body}")
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw:
            raise RequestError(400, "body: empty; send a JSON object")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise RequestError(400, f"body: not UTF-8 (byte {err.start}: {raw[err.start:err.start + 1]!r})") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise RequestError(400, f"body: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None

    def parse(model: type[BaseModel] | TypeAdapter, data: Any, what: str):
        try:
            return model.validate_python(data) if isinstance(model, TypeAdapter) else model.model_validate(data)
        except ValidationError as err:
            raise RequestError(400, describe(err.errors()[0], what, data)) from None

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return HTMLResponse(resources.files("nmt.serving").joinpath("static/index.html").read_text(encoding="utf-8"))

    @app.get("/health", summary="liveness: the process answers")
    async def health():
        return {"status": "ok"}

    @app.get("/ready", summary="readiness: models loaded and the decoder running", responses={503: ERRORS[503]})
    async def ready():
        if not service.ready:
            return _error(503, "not ready: the server is starting or stopping", {"Retry-After": "1"})
        return {"status": "ready", "models": list(service.models)}

    @app.get("/v1/models", response_model=list[ModelInfo], summary="the models served, with their configs")
    async def models():
        return service.model_infos()

    @app.get("/v1/stats", summary="batching counters since start")
    async def stats():
        return service.stats()

    @app.post("/v1/translate", response_model=TranslateResponse, responses=ERRORS,
              openapi_extra=_body_schema(TranslateRequest.model_json_schema()),
              summary="translate a list of sentences, with n-best scores, alignments or attention on request")
    async def translate(request: Request):
        body = parse(TranslateRequest, await read_json(request), "a JSON object")
        return await service.translate(body)

    @app.post("/translator/translate", response_model=list[list[OpenNMTResult]], responses=ERRORS,
              openapi_extra=_body_schema({"type": "array", "items": OpenNMTItem.model_json_schema()}),
              summary="OpenNMT-py's REST format: [{\"src\": ..., \"id\": ...}]")
    async def translate_opennmt(request: Request):
        items = parse(OPENNMT_BODY, await read_json(request), "a JSON list")
        return await service.translate_opennmt(items)

    return app


def describe(error: dict, what: str, data: Any) -> str:
    """One line for pydantic's first error: the field as a client writes it (`sentences[2]`,
    `[0].src`), then what is wrong; never the whole input."""
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    if not loc:
        return f"body: expected {what}, got {type(data).__name__}"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{loc}: unknown field"
    if kind == "missing":
        return f"{loc}: required field is missing"
    got = error.get("input")
    value = "" if isinstance(got, (dict, list)) else f" (got {shown(got)})"
    return f"{loc}: {error['msg']}{value}"
