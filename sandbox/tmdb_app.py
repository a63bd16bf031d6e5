"""A local stand-in for TMDB's v3 API (`/discover/tv`, `/tv/{id}`) answering from a catalog file.

TMDB itself cannot be reached from here, so the DAG is pointed at this app. It mimics what the
product relies on: the credential check, TMDB's error bodies, discover's filters, sort and
20-result pages, and `append_to_response=external_ids`. Ties in a sort come back in an order
that is deliberately not the product's tie-break (popularity first), as TMDB gives no order
for them and the product must re-rank.

Fault rules make it fail the way TMDB, or what stands between it and the client, does (429 with
``Retry-After``, 500, 503, slow; and 200s that are not what they claim: a proxy's HTML page, JSON that does
not parse, a body cut short or stalled after the headers, JSON of the wrong shape, a runaway body) so tests
can prove the client survives them; they come from ``create_app(faults=...)``,
``TMDB_SANDBOX_FAULTS`` (a JSON list) or, at run time, the loopback-only admin API under
``/_sandbox``, which also exposes a log of the ``/3`` requests received.

Serve it with ``TMDB_SANDBOX_CREDENTIALS=cred1,cred2 python -m sandbox.tmdb_app --port N --catalog PATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

PAGE_SIZE = 20
MAX_PAGE = 500
CREDENTIALS_ENV = "TMDB_SANDBOX_CREDENTIALS"
FAULTS_ENV = "TMDB_SANDBOX_FAULTS"
ADMIN_PREFIX = "/_sandbox/"

INVALID_KEY = {
    "status_code": 7,
    "status_message": "Invalid API key: You must be granted a valid key.",
    "success": False,
}
NOT_FOUND = {
    "status_code": 34,
    "status_message": "The resource you requested could not be found.",
    "success": False,
}
INVALID_PAGE = {
    "status_code": 22,
    "status_message": "Invalid page: Pages start at 1 and max at 500. They are expected to be an integer.",
    "success": False,
}
INVALID_INPUT = {"status_code": 47, "status_message": "The input is not valid.", "success": False}
RATE_LIMITED = {
    "success": False,
    "status_code": 25,
    "status_message": "Your request count (#) is over the allowed limit of (40).",
}
INTERNAL_ERROR = {
    "success": False,
    "status_code": 11,
    "status_message": "Internal error: Something went wrong, contact TMDB.",
}
SERVICE_OFFLINE = {
    "success": False,
    "status_code": 9,
    "status_message": "Service offline: This service is temporarily offline, try again later.",
}
FAULT_ANSWERS: dict[str, tuple[int, Mapping[str, Any]]] = {
    "429": (429, RATE_LIMITED),
    "500": (500, INTERNAL_ERROR),
    "503": (503, SERVICE_OFFLINE),
    "empty": (200, {}),
}
MALFORMED_BODY = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Service Temporarily Unavailable</title></head>\n"
    b"<body><h1>Service Temporarily Unavailable</h1>\n"
    b"<p>The server is down for maintenance. Please try again later.</p></body></html>\n"
)
"""A proxy's or CDN's maintenance page, served with a 200 as some are."""
HUGE_CHUNK = 64 * 1024
TRICKLE_STEP = 0.1
"""Seconds between two pieces of a ``trickle`` body."""
RESHAPED = frozenset({"invalid-json", "truncated", "stall", "trickle", "no-id", "results-not-list"})
"""The faults that spoil the real answer, so they need it first."""

SORT_FIELDS = ("popularity", "vote_average", "vote_count", "first_air_date", "name", "original_name")
LIST_ITEM_FIELDS = (
    "adult",
    "backdrop_path",
    "genre_ids",
    "id",
    "origin_country",
    "original_language",
    "original_name",
    "overview",
    "popularity",
    "poster_path",
    "first_air_date",
    "name",
    "vote_average",
    "vote_count",
)


class TmdbJSONResponse(JSONResponse):
    """TMDB's exact content type."""

    media_type = "application/json;charset=utf-8"


def error(status: int, body: Mapping[str, Any]) -> TmdbJSONResponse:
    return TmdbJSONResponse(dict(body), status_code=status)


class FaultRule(BaseModel):
    """Answer requests whose path matches the glob ``path`` with ``fault``, ``times`` times per
    distinct path or with seeded ``probability``; unknown fields are refused so typos surface."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(pattern=r"^/")
    fault: Literal[
        "429",
        "500",
        "503",
        "slow",
        "malformed",
        "empty",
        "html",
        "invalid-json",
        "truncated",
        "stall",
        "trickle",
        "no-id",
        "results-not-list",
        "huge",
    ]
    times: int | None = Field(None, ge=0)
    probability: float | None = Field(None, ge=0, le=1)
    seed: int = 0
    retry_after: int = Field(1, ge=0)
    delay: float = Field(5.0, ge=0)
    """Seconds ``slow`` waits before the headers, ``stall`` between the headers and the body, and over which
    ``trickle`` spreads the body."""
    size: int = Field(64 * 1024 * 1024, ge=0)
    """Bytes of the body ``huge`` streams (a JSON object of padding), never held whole."""

    @model_validator(mode="after")
    def one_trigger(self) -> FaultRule:
        if (self.times is None) == (self.probability is None):
            raise PydanticCustomError("trigger", "give exactly one of `times` or `probability`")
        return self


class FaultSpecError(ValueError):
    """A fault list that does not validate; the message names each bad rule's index and field."""


RULES = TypeAdapter(list[FaultRule])


def describe(detail: ErrorDetails) -> str:
    """``rule 1 field times: ...`` for an error in a rule, ``fault list: ...`` for one in the list."""
    if not detail["loc"]:
        return f"fault list: {detail['msg']}"
    index, *field = detail["loc"]
    where = f"rule {index} field {'.'.join(map(str, field))}" if field else f"rule {index}"
    return f"{where}: {detail['msg']}"


def parse_faults(spec: str | bytes) -> tuple[FaultRule, ...]:
    """Rules from a JSON list, as ``TMDB_SANDBOX_FAULTS`` and ``PUT /_sandbox/faults`` take them."""
    try:
        return tuple(RULES.validate_json(spec))
    except ValidationError as exc:
        raise FaultSpecError("; ".join(map(describe, exc.errors()))) from None


class Faults:
    """The active rules and what each has spent; setting rules starts every budget and RNG afresh.

    Only the event loop touches it (the middleware and admin endpoints are async), so it needs no lock.
    """

    def __init__(self, rules: Sequence[FaultRule] = ()) -> None:
        self.set(rules)

    def set(self, rules: Sequence[FaultRule]) -> None:
        self.rules = tuple(rules)
        self.fired = [Counter[str]() for _ in self.rules]
        self.rngs = [random.Random(rule.seed) for rule in self.rules]

    def pick(self, path: str) -> FaultRule | None:
        """The first rule matching ``path`` with budget left for it, charged for this request."""
        for rule, fired, rng in zip(self.rules, self.fired, self.rngs, strict=True):
            if not fnmatchcase(path, rule.path):
                continue
            due = fired[path] < rule.times if rule.times is not None else rng.random() < rule.probability
            if due:
                fired[path] += 1
                return rule
        return None


async def inject(
    rule: FaultRule, request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """TMDB's answer for ``rule``'s fault; a slow fault still answers normally, only late."""
    if rule.fault == "slow":
        await asyncio.sleep(rule.delay)
        return await call_next(request)
    if rule.fault == "malformed":
        return Response(MALFORMED_BODY, media_type=TmdbJSONResponse.media_type)
    if rule.fault == "html":
        return Response(HTML_PAGE, media_type="text/html; charset=utf-8")
    if rule.fault == "huge":
        return HugeBody(rule.size)
    if rule.fault in RESHAPED:
        answer = await call_next(request)
        if answer.status_code != 200:
            return answer
        return spoil(rule, b"".join([chunk async for chunk in answer.body_iterator]))
    response = error(*FAULT_ANSWERS[rule.fault])
    if rule.fault == "429":
        response.headers["Retry-After"] = str(rule.retry_after)
    return response


def spoil(rule: FaultRule, body: bytes) -> Response:
    """The real answer ``body`` as ``rule``'s fault serves it."""
    if rule.fault == "invalid-json":
        return Response(body[: len(body) // 2], media_type=TmdbJSONResponse.media_type)
    if rule.fault == "truncated":
        return CutShort(body)
    if rule.fault == "stall":
        return Delayed(body, rule.delay)
    if rule.fault == "trickle":
        return Delayed(body, rule.delay, steps=round(rule.delay / TRICKLE_STEP))
    data = json.loads(body)
    if rule.fault == "no-id":
        data.pop("id", None)
        for series in data.get("results", []):
            series.pop("id", None)
    else:  # results-not-list: an object keyed by position, as a broken serializer might send
        data["results"] = {str(number): series for number, series in enumerate(data.get("results", []), 1)}
    return TmdbJSONResponse(data)


class _RawAnswer(Response):
    """An answer written as ASGI messages, for the ones a Response cannot send: its headers say
    TMDB's content type and, when ``length`` is given, a Content-Length."""

    media_type = TmdbJSONResponse.media_type

    def __init__(self, length: int | None = None) -> None:
        super().__init__(headers=None if length is None else {"content-length": str(length)})
        if length is None:
            self.raw_headers = [
                (name, value) for name, value in self.raw_headers if name != b"content-length"
            ]

    async def start(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})


class CutShort(_RawAnswer):
    """Announces ``body``'s whole length, sends its first half and stops: uvicorn closes the connection
    (its log says "ASGI callable returned without completing response")."""

    def __init__(self, body: bytes) -> None:
        super().__init__(len(body))
        self.whole = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.start(send)
        await send(
            {"type": "http.response.body", "body": self.whole[: len(self.whole) // 2], "more_body": True}
        )


class Delayed(_RawAnswer):
    """Sends the headers at once, then ``body`` in ``steps`` pieces spread over ``delay`` seconds: in one
    piece, a body that stalls after the headers; in many, one that trickles in, each read getting something
    long before a read timeout while the whole takes ``delay``."""

    def __init__(self, body: bytes, delay: float, steps: int = 1) -> None:
        super().__init__(len(body))
        self.whole, self.delay, self.steps = body, delay, max(1, steps)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.start(send)
        piece = max(1, math.ceil(len(self.whole) / self.steps))
        for start in range(0, len(self.whole), piece):
            await asyncio.sleep(self.delay / self.steps)
            await send(
                {"type": "http.response.body", "body": self.whole[start : start + piece], "more_body": True}
            )
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class HugeBody(_RawAnswer):
    """A JSON object of ``size`` bytes of padding, streamed in chunks (no Content-Length) and never held
    whole; once the client has gone, uvicorn drops what is still sent."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head, tail = b'{"padding": "', b'"}'
        await self.start(send)
        await send({"type": "http.response.body", "body": head, "more_body": True})
        chunk, padding = b"x" * HUGE_CHUNK, max(self.size - len(head) - len(tail), 0)
        for start in range(0, padding, HUGE_CHUNK):
            await send({"type": "http.response.body", "body": chunk[: padding - start], "more_body": True})
        await send({"type": "http.response.body", "body": tail, "more_body": False})


def matches(values: Collection[str], expression: str | None) -> bool:
    """TMDB's list filters: ``a|b`` means any of them, ``a,b`` means all of them."""
    if not expression:
        return True
    if "|" in expression:
        return any(term.strip() in values for term in expression.split("|"))
    return all(term.strip() in values for term in expression.split(","))


def list_item(series: Mapping[str, Any]) -> dict[str, Any]:
    """A ``/tv/{id}`` object cut down to the shape of one discover result."""
    item = {**series, "genre_ids": [genre["id"] for genre in series["genres"]]}
    return {field: item.get(field) for field in LIST_ITEM_FIELDS}


def sort_key(field: str) -> Callable[[Mapping[str, Any]], tuple]:
    """Sort by ``field``, ties by popularity: an order the product must not rely on."""
    return lambda series: (series[field], series["popularity"], series["id"])


def load_catalog(path: Path) -> dict[int, dict[str, Any]]:
    return {int(series["id"]): series for series in json.loads(path.read_text(encoding="utf-8"))["series"]}


def create_app(
    catalog_path: Path,
    credentials: Collection[str],
    *,
    latency: float = 0.0,
    faults: Sequence[FaultRule] = (),
) -> FastAPI:
    """The sandbox app over the catalog at ``catalog_path``, accepting any of ``credentials``."""
    catalog = load_catalog(Path(catalog_path))
    accepted = frozenset(credential for credential in credentials if credential)
    active = Faults(faults)
    received: list[dict[str, Any]] = []
    app = FastAPI(
        title="TMDB sandbox",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=TmdbJSONResponse,
    )

    async def authorise(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Every request pays the latency, then needs a Bearer token or ``api_key`` TMDB would accept;
        only then may a fault answer, as TMDB checks the key before anything else."""
        if latency > 0:
            await asyncio.sleep(latency)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else None
        if bearer not in accepted and request.query_params.get("api_key") not in accepted:
            return error(401, INVALID_KEY)
        rule = active.pick(request.url.path)
        return await (call_next(request) if rule is None else inject(rule, request, call_next))

    @app.middleware("http")
    async def serve(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """The admin API is test tooling on loopback, so it skips credentials; ``/3`` requests are logged."""
        if request.url.path.startswith(ADMIN_PREFIX):
            return await call_next(request)
        at = time.time()
        response = await authorise(request, call_next)
        if request.url.path.startswith("/3/"):
            query = {k: "***" if k == "api_key" else v for k, v in request.query_params.items()}
            received.append(
                {"path": request.url.path, "query": query, "status": response.status_code, "at": at}
            )
        return response

    @app.exception_handler(404)
    async def not_found(_: Request, __: HTTPException) -> Response:
        return error(404, NOT_FOUND)

    @app.exception_handler(RequestValidationError)
    async def invalid_input(_: Request, __: RequestValidationError) -> Response:
        return error(400, INVALID_INPUT)

    @app.get("/3/discover/tv")
    def discover_tv(
        sort_by: str = "popularity.desc",
        with_genres: str | None = None,
        with_origin_country: str | None = None,
        vote_count_gte: float | None = Query(None, alias="vote_count.gte"),
        vote_average_gte: float | None = Query(None, alias="vote_average.gte"),
        include_adult: bool = False,
        page: str = "1",
    ) -> Response:
        """``language`` is accepted but moot: the catalog holds one language."""
        if not (page.isascii() and page.isdigit()) or not 1 <= int(page) <= MAX_PAGE:
            return error(400, INVALID_PAGE)
        field, _, direction = sort_by.partition(".")
        if field not in SORT_FIELDS or direction not in ("asc", "desc"):
            return error(400, INVALID_INPUT)
        found = [
            series
            for series in catalog.values()
            if (include_adult or not series["adult"])
            and matches({str(genre["id"]) for genre in series["genres"]}, with_genres)
            and matches(set(series["origin_country"]), with_origin_country)
            and series["vote_count"] >= (vote_count_gte or 0)
            and series["vote_average"] >= (vote_average_gte or 0)
        ]
        found.sort(key=sort_key(field), reverse=direction == "desc")
        start = (int(page) - 1) * PAGE_SIZE
        return TmdbJSONResponse(
            {
                "page": int(page),
                "results": [list_item(series) for series in found[start : start + PAGE_SIZE]],
                "total_pages": min(max(1, math.ceil(len(found) / PAGE_SIZE)), MAX_PAGE),
                "total_results": len(found),
            }
        )

    @app.get("/3/tv/{tv_id}")
    def tv_details(tv_id: str, append_to_response: str = "") -> Response:
        series = catalog.get(int(tv_id)) if tv_id.isascii() and tv_id.isdigit() else None
        if series is None:
            return error(404, NOT_FOUND)
        appended = {name.strip() for name in append_to_response.split(",")}
        return TmdbJSONResponse(
            series if "external_ids" in appended else {k: v for k, v in series.items() if k != "external_ids"}
        )

    @app.put("/_sandbox/faults")
    async def replace_faults(request: Request) -> Response:
        """Replace the rules, their budgets starting afresh; answers the rules with defaults filled in."""
        try:
            rules = parse_faults(await request.body())
        except FaultSpecError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        active.set(rules)
        return JSONResponse([rule.model_dump(exclude_none=True) for rule in rules])

    @app.delete("/_sandbox/faults", status_code=204, response_class=Response)
    async def clear_faults() -> None:
        active.set(())

    @app.get("/_sandbox/requests")
    async def request_log() -> list[dict[str, Any]]:
        """``/3`` requests in arrival order: path, query (``api_key`` masked), status, ``at`` (Unix time)."""
        return received

    @app.delete("/_sandbox/requests", status_code=204, response_class=Response)
    async def clear_request_log() -> None:
        received.clear()

    return app


def main() -> None:
    """Serve the sandbox; credentials come from the environment so they stay out of process listings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each answer")
    args = parser.parse_args()
    credentials = [c.strip() for c in os.environ.get(CREDENTIALS_ENV, "").split(",") if c.strip()]
    if not credentials:
        parser.error(f"{CREDENTIALS_ENV} must hold at least one credential (comma-separated)")
    try:
        faults = parse_faults(os.environ.get(FAULTS_ENV) or "[]")
    except FaultSpecError as exc:
        parser.error(f"{FAULTS_ENV}: {exc}")
    app = create_app(args.catalog, credentials, latency=args.latency, faults=faults)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
