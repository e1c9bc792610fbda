"""Web chat session tokens: `<task id>.<expiry, Unix seconds>.<HMAC-SHA256 of the two>`.
A token names one chat and expires; every instance checks it with the same key. Pure: the
key and the time are passed in."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from callcenter.errors import Unauthorized

MAX_TOKEN_CHARS = 200


def issue(key: bytes, task_id: str, expires_at: datetime) -> str:
    """A token for the chat `task_id` (which has no dot) until `expires_at`."""
    if not task_id or "." in task_id:
        raise ValueError(f"a chat's task id has no dot: {task_id!r}")
    claim = f"{task_id}.{int(expires_at.timestamp())}"
    return f"{claim}.{_sign(key, claim)}"


def task_of(key: bytes, token: str, now: datetime) -> str:
    """The task a token names. Raises Unauthorized: not signed with `key` (forged, altered,
    not a token), or expired at `now`."""
    claim, _, signature = token.rpartition(".")
    task_id, _, expiry = claim.partition(".")
    if len(token) > MAX_TOKEN_CHARS or not (task_id and expiry.isdigit()):
        raise Unauthorized("not a chat session token")
    if not hmac.compare_digest(_sign(key, claim), signature):
        raise Unauthorized("not a chat session token of this server")
    if int(expiry) <= now.timestamp():
        raise Unauthorized("the chat session has expired: start a new chat")
    return task_id


def _sign(key: bytes, claim: str) -> str:
    return hmac.new(key, claim.encode(), hashlib.sha256).hexdigest()
