"""Oversized requests, answered like every other error. The HTTP parser is given generous
limits (a 1 MiB request line, 64 KiB header fields) so that a URL or a header past ours
reaches the middleware and gets problem+json (414, 431); anything past the parser's own
limits still gets its plain 400, and its log record becomes one line that repeats nothing
of the request (a URL may carry a token)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from callcenter.metrics import Metrics

MAX_URL_BYTES = 8190
MAX_HEADER_BYTES = 8190
PARSER_LIMITS: dict[str, Any] = {"max_line_size": 1 << 20, "max_field_size": 64 << 10}


class _OneLine(logging.Filter):
    """aiohttp logs a malformed request with its first bytes and a traceback: keep neither."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self._metrics = metrics

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            self._metrics.http_rejections_total.labels(str(error.code or 400)).inc()
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "malformed HTTP request from %s refused: %s"
            record.args = (peer, type(error).__name__)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def http_error_logger(metrics: Metrics) -> logging.Logger:
    """The logger for aiohttp's request handler (`logger=` of the runner): malformed
    requests are counted (http_rejections_total) and logged in one redacted line."""
    logger = logging.getLogger("callcenter.web.http")
    for old in [f for f in logger.filters if isinstance(f, _OneLine)]:
        logger.removeFilter(old)
    logger.addFilter(_OneLine(metrics))
    return logger


@web.middleware
async def size_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """414 for a URL over MAX_URL_BYTES, 431 for a header over MAX_HEADER_BYTES (inside
    the problem middleware, so both are problem+json)."""
    if len(request.raw_path) > MAX_URL_BYTES:
        raise web.HTTPRequestURITooLong(text=f"the URL is over {MAX_URL_BYTES} bytes")
    for name, value in request.raw_headers:
        if len(name) + len(value) > MAX_HEADER_BYTES:
            raise web.HTTPRequestHeaderFieldsTooLarge(
                text=f"a header is over {MAX_HEADER_BYTES} bytes"
            )
    return await handler(request)
