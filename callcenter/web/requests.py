"""Reading requests at the edge: size-limited bodies decoded into typed values, credentials."""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from callcenter.errors import InvalidInput, PayloadTooLarge, decoded
from callcenter.web.state import SETTINGS

T = TypeVar("T")


async def read_body(request: web.Request) -> bytes:
    """The raw body, refusing anything over the configured limit (413)."""
    limit = request.app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(limit)
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(limit) from None


@functools.lru_cache(maxsize=64)
def _decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    """One decoder per request type: building it is the costly part of decoding."""
    return msgspec.json.Decoder(kind)


def decode(body: bytes, kind: Any) -> Any:
    """Decode JSON into `kind`; raise InvalidInput with the pointer of the bad field.

    A number with a zero fraction (`5.0`) is an integer, as JSON Schema says it is."""
    if not body.strip():
        raise InvalidInput("request body is empty; a JSON document is required")
    return decoded(lambda: _strict_or_whole(body, kind))


def _strict_or_whole(body: bytes, kind: Any) -> Any:
    try:
        return _decoder(kind).decode(body)
    except msgspec.ValidationError as error:
        if "got `float`" not in str(error):
            raise
        # rare, so the strict decoder stays the fast path: re-read with whole floats as ints
        return msgspec.convert(_whole_numbers(msgspec.json.decode(body)), kind)


def _whole_numbers(value: Any) -> Any:
    """`value` (decoded JSON) with every float that has no fraction, and fits in 64 bits,
    made an int."""
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2.0**63 else value
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    return value


def require_json(request: web.Request) -> None:
    """Raise InvalidInput unless the request says its body is JSON."""
    content_type = request.content_type
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise InvalidInput(f"Content-Type must be application/json, not {content_type!r}")


async def decode_json(request: web.Request, kind: type[T]) -> T:
    """The JSON body decoded into `kind`; raises InvalidInput or PayloadTooLarge."""
    require_json(request)
    decoded: T = decode(await read_body(request), kind)
    return decoded


def path_id(request: web.Request, name: str, *, max_length: int = 128) -> str:
    value = request.match_info[name]
    if not 1 <= len(value) <= max_length:
        raise InvalidInput(f"{name} must be 1-{max_length} characters", f"/{name}")
    return value
