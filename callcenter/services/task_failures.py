"""How a background task logs the error it caught at its boundary: Redis being away is
expected during an outage (requests get 503s, `/readyz` turns not-ready and an alert fires),
so it is one warning line; anything else is a bug, logged with its traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from callcenter.errors import StorageUnavailable


def log_failure(
    logger: logging.Logger, message: str, *args: object, extra: Mapping[str, Any] | None = None
) -> None:
    """Log the exception being handled (call it from an `except` block)."""
    error = sys.exc_info()[1]
    if isinstance(error, StorageUnavailable):
        logger.warning(message + " (%s)", *args, error, extra=extra)
    else:
        logger.exception(message, *args, extra=extra)
