"""RFC 9457 problem+json responses, and msgspec error paths turned into JSON pointers."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

PROBLEM_TYPE_BASE = "https://callcenter.invalid/problems/"
CONTENT_TYPE = "application/problem+json"

_PATH = re.compile(r" - at (?:`key` in )?`\$(?P<path>[^`]*)`$")
_FIELD = re.compile(r"(?:missing required|contains unknown) field `(?P<field>[^`]+)`")
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem document (with `pointer` for the offending field)."""

    type: str
    title: str
    status: int
    detail: str
    pointer: str | None = None
    instance: str | None = None


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    pointer: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = Problem(
        type=PROBLEM_TYPE_BASE + slug,
        title=title,
        status=status,
        detail=detail,
        pointer=pointer,
        instance=instance,
    )
    return problem_document(body, headers)


def problem_document(problem: Problem, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=problem.status,
        body=msgspec.json.encode(problem),
        content_type=CONTENT_TYPE,
        headers=headers,
    )


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def pointer_of(error: msgspec.ValidationError | msgspec.DecodeError) -> tuple[str, str]:
    """(reason, JSON pointer) from a msgspec error message such as
    "Expected `int` >= 1 - at `$[0].a`" → ("Expected `int` >= 1", "/0/a").

    A bad map key or value points at the map ("$.skills[...]" → "/skills"); a missing or
    unknown field points at the field itself."""
    message = str(error)
    match = _PATH.search(message)
    reason = message[: match.start()] if match else message
    pointer = ""
    if match:
        path = match.group("path").split("[...]", 1)[0]
        for name, index in _SEGMENT.findall(path):
            pointer += "/" + (_escape(name) if name else index)
        if "`key` in" in match.group(0):
            reason = f"{reason} (a key)"
    field = _FIELD.search(reason)
    if field:
        pointer += "/" + _escape(field.group("field"))
    return reason, pointer


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=msgspec.json.encode(data), content_type="application/json"
    )
