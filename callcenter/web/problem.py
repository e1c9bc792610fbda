"""RFC 9457 problem+json responses, and msgspec error paths turned into JSON pointers."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

PROBLEM_TYPE_BASE = "https://callcenter.invalid/problems/"
CONTENT_TYPE = "application/problem+json"


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


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=msgspec.json.encode(data), content_type="application/json"
    )
