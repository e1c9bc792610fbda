"""jambonz's REST live call control: the call update that sends a live call to a new
call hook, the way an accepted offer reaches a jambonz call.

`PUT {base}/v1/Accounts/{account_sid}/Calls/{call_sid}` with `Authorization: Bearer <api
key>` and the JSON body `{"call_hook": {"url": ..., "method": "POST"}}` (jambonz's api
server, lib/routes/api/accounts.js `updateCall`; POST is its legacy alias). The api server
finds the call and forwards the body to the feature server holding it, which answers 202
at once and then requests the hook for the call's new verbs. Both sids are UUIDs (400
`{"msg": "Bad request"}` otherwise); an unknown call is 404, a call whose session just
went away 422, a bad key 401; errors carry `{"msg": ...}` or plain text.

429 and 5xx answers, and connections that never reached jambonz, are retried with the
project's back-off (honouring a Retry-After in seconds); other 4xx are final. A request
that may have reached jambonz (a timeout, a dropped connection, a 504 from a proxy) is not
repeated: a second redirect restarts the dial and rings the agent twice.

aiohttp is used as an HTTP *client* with a session the caller owns (the STYLE rule that
only web/ imports aiohttp is about the server side)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import aiohttp
import msgspec

from callcenter.backoff import Backoff
from callcenter.errors import CallcenterError
from callcenter.gateways.rest_retries import Answer, RetryPolicy, send_with_retries

API_VERSION = "v1"
DEFAULT_BACKOFF = Backoff(0.5, 8.0)
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_GATEWAY_TIMEOUT = 504
_TOO_MANY_REQUESTS = 429


class JambonzApiError(CallcenterError):
    """jambonz refused a request, or could not be reached (`status` None); `message` is
    the `msg` of jambonz's JSON error body, or an excerpt of a plain-text one."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no response"
        return f"jambonz API ({where}): {self.message}"


class _ErrorBody(msgspec.Struct, frozen=True):
    msg: str | None = None


class JambonzRestClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        account_sid: str,
        api_key: str,
        backoff: Backoff | None = None,
        max_attempts: int = 4,
        timeout_seconds: float = 10.0,
    ) -> None:
        """`base_url` is the api server's root (`https://api.jambonz.us`,
        `http://10.0.0.5:3000`; a trailing `/v1` is accepted). Raises ValueError for a
        base URL that is not absolute http(s), an account sid that is not a UUID, or an
        empty API key."""
        if not _UUID.fullmatch(account_sid):
            raise ValueError("a jambonz account sid is a UUID")
        if not api_key or not api_key.isprintable() or " " in api_key:
            raise ValueError("a jambonz API key is a non-empty token without spaces")
        self._session = session
        self._calls_url = f"{_api_root(base_url)}/Accounts/{account_sid}/Calls"
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._backoff = backoff or DEFAULT_BACKOFF
        self._max_attempts = max(1, max_attempts)
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    def __repr__(self) -> str:
        # the default repr would show nothing secret today; this one never will
        return f"JambonzRestClient({self._calls_url!r})"

    async def redirect_call(self, call_sid: str, call_hook_url: str) -> None:
        """Make the live call `call_sid` request `call_hook_url` (POST) for its next verbs,
        replacing what it runs now. Returns once jambonz accepted the update.

        Raises ValueError for a call sid that is not a UUID or a hook URL that is not
        absolute http(s), JambonzApiError when jambonz refuses or stays unreachable after
        the retries."""
        if not _UUID.fullmatch(call_sid):
            raise ValueError("a jambonz call sid is a UUID")
        if not _absolute_http(call_hook_url):
            raise ValueError("the call hook must be an absolute http(s) URL")
        body: dict[str, object] = {"call_hook": {"url": call_hook_url, "method": "POST"}}
        await self._put(f"{self._calls_url}/{call_sid}", body, f"the redirect of {call_sid}")

    async def _put(self, endpoint: str, body: dict[str, object], subject: str) -> None:
        async def send() -> Answer:
            async with self._session.put(
                endpoint, json=body, headers=self._headers, timeout=self._timeout
            ) as answer:
                content = await answer.read()
                return Answer(
                    answer.status, content, answer.headers.get("Retry-After"), answer.reason
                )

        policy = RetryPolicy(
            service="jambonz",
            backoff=self._backoff,
            attempts=self._max_attempts,
            failure=lambda answer: _api_error(answer.status, answer.reason, answer.body),
            lost=lambda reason: JambonzApiError(None, reason),
            retryable=_retryable,
        )
        await send_with_retries(send, policy, subject)


def _api_root(base_url: str) -> str:
    if not _absolute_http(base_url):
        raise ValueError("the jambonz API URL must be an absolute http(s) URL")
    parts = urlsplit(base_url)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("the jambonz API URL takes no query, fragment or credentials")
    root = base_url.rstrip("/")
    return root if root.endswith(f"/{API_VERSION}") else f"{root}/{API_VERSION}"


def _absolute_http(url: str) -> bool:
    if not url.isprintable() or " " in url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced [ in the host
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _retryable(failure: JambonzApiError) -> bool:
    """Whether jambonz certainly did not act on the request. A 5xx from the api server
    means it did not get an accepted answer from the feature server, which answers 202
    before it acts; a 504 from a proxy in front of it may hide an update under way."""
    if failure.status is None or failure.status == _TOO_MANY_REQUESTS:
        return True  # only connections that never opened get here with no status
    return failure.status >= 500 and failure.status != _GATEWAY_TIMEOUT


def _api_error(status: int, reason: str | None, content: bytes) -> JambonzApiError:
    """jambonz's `{"msg": ...}` error body as an error; plain text (404 "Not Found", 401
    "Unauthorized", a 422 sentence) keeps an excerpt."""
    try:
        message = msgspec.json.decode(content, type=_ErrorBody).msg
    except msgspec.DecodeError:
        message = content[:200].decode(errors="replace").strip()
    return JambonzApiError(status, message or reason or "empty response")
