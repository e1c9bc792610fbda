"""Middlewares: every error becomes problem+json; nothing else ever reaches the client."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from callcenter.errors import (
    CallcenterError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    NotReplicated,
    PayloadTooLarge,
    ReplyNotSent,
    RulesInvalid,
    StorageUnavailable,
    TooManyRequests,
    Unauthorized,
)
from callcenter.web.problem import (
    PROBLEM_TYPE_BASE,
    Problem,
    problem_document,
    problem_response,
)
from callcenter.web.state import METRICS

logger = logging.getLogger(__name__)


MAX_INSTANCE_CHARS = 256
_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="callcenter"'}


# errors whose problem is their status, slug and title, with their message as the detail
_SIMPLE: dict[type[CallcenterError], tuple[int, str, str]] = {
    NotFound: (404, "not-found", "Not found"),
    Conflict: (409, "conflict", "Conflict"),
    Unauthorized: (401, "unauthorized", "Unauthorized"),
    Forbidden: (403, "forbidden", "Forbidden"),
    PayloadTooLarge: (413, "too-large", "Payload too large"),
    ReplyNotSent: (502, "reply-not-sent", "Reply not sent"),
}


def _unavailable(error: CallcenterError) -> str | None:
    """What a 503 says (not Redis's own words), or None: not a storage error."""
    if isinstance(error, NotReplicated):
        return "stored, but not yet on enough replicas; retry (the same event is taken once)"
    if isinstance(error, StorageUnavailable):
        return "storage is unavailable; retry"
    return None


def problem_of(error: CallcenterError, path: str) -> tuple[Problem, dict[str, str]]:
    """The problem document (and extra headers) for one of our errors."""
    headers: dict[str, str] = {}
    pointer = None
    simple = next((kind for kind in _SIMPLE if isinstance(error, kind)), None)
    if isinstance(error, InvalidInput):
        status, slug, title, detail = 422, "invalid-input", "Invalid input", error.reason
        pointer = error.pointer or None
    elif isinstance(error, RulesInvalid):
        status, slug, title = 422, "rules-invalid", "Rules not reloaded"
        detail = "the rules in force stay; problems: " + "; ".join(error.problems)
    elif simple is not None:
        (status, slug, title), detail = _SIMPLE[simple], str(error)
        headers = _UNAUTHORIZED_HEADERS if simple is Unauthorized else {}
    elif isinstance(error, TooManyRequests):
        status, slug, title, detail = 429, "too-many-requests", "Too many requests", error.reason
        headers = {"Retry-After": str(max(1, error.retry_after))}
    elif (unavailable := _unavailable(error)) is not None:
        status, slug, title = 503, "unavailable", "Service unavailable"
        detail, headers = unavailable, {"Retry-After": "1"}
    else:
        status, slug, title, detail = 400, "bad-request", "Bad request", str(error)
    problem = Problem(
        type=PROBLEM_TYPE_BASE + slug,
        title=title,
        status=status,
        detail=detail,
        pointer=pointer,
        instance=path,
    )
    return problem, headers


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map our errors and aiohttp's HTTP errors to problem+json; log and hide the rest."""
    try:
        return await handler(request)
    except CallcenterError as error:
        problem, headers = problem_of(error, _instance(request))
        response = problem_document(problem, headers)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        response = problem_response(
            error.status,
            "http-" + str(error.status),
            error.reason,
            error.text or error.reason,
            instance=_instance(request),
        )
        response.headers.update(
            {k: v for k, v in error.headers.items() if k.lower() in ("allow", "retry-after")}
        )
    except Exception:
        logger.exception("unhandled error", extra={"path": request.path})
        request.app[METRICS].task_errors_total.labels("http").inc()
        response = problem_response(
            500,
            "internal",
            "Internal error",
            "the server failed; it has been logged",
            instance=_instance(request),
        )
    request.app[METRICS].http_rejections_total.labels(str(response.status)).inc()
    return response


def _instance(request: web.Request) -> str:
    """The request's path, shortened: a problem never echoes a huge URL back."""
    path = request.path
    return path if len(path) <= MAX_INSTANCE_CHARS else path[:MAX_INSTANCE_CHARS] + "…"
