"""jambonz's api server on 127.0.0.1, speaking its wire format for the live call update:
`PUT` (or the legacy `POST`) `/v1/Accounts/{AccountSid}/Calls/{CallSid}` with a Bearer API
key and a JSON body, answered as jambonz-api-server's `updateCall` answers it (202
"Accepted"; 400 `{"msg"}`; 401 "Unauthorized"; 404 "Not Found"; 422 plain text). Every
request is recorded, and it can be told to fail the next requests (503, or 429 with
Retry-After), for the retry rules.

    fake = FakeJambonzApi(ACCOUNT_SID, API_KEY)
    fake.add_call(CALL_SID)  # only live calls can be updated
    async with fake:  # then point a JambonzRestClient at fake.url
        ...

Stricter than jambonz in one way: a `call_hook` that is neither a URL nor an object with a
`url` is refused with 400 here, where jambonz would fail later, requesting it."""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# jambonz's validateUpdateCall: exactly one of these per request (whisper aside)
_UPDATE_KINDS = (
    "call_hook",
    "child_call_hook",
    "call_status",
    "listen_status",
    "transcribe_status",
    "conf_hold_status",
    "conf_mute_status",
    "mute_status",
    "sip_request",
    "record",
    "tag",
    "dtmf",
    "conferenceParticipantAction",
    "dub",
    "boostAudioSignal",
    "media_path",
)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One call update as it arrived."""

    method: str
    path: str
    account_sid: str
    call_sid: str
    authorization: str | None
    content_type: str
    body: Any  # the decoded JSON, or the raw text when it was not JSON


@dataclass(frozen=True, slots=True)
class _Failure:
    status: int
    retry_after: str | None = None


class FakeJambonzApi:
    """The call update of jambonz's api server (and the feature server behind it)."""

    def __init__(self, account_sid: str, api_key: str) -> None:
        self.account_sid = account_sid
        self._authorization = f"Bearer {api_key}"
        self.requests: list[RecordedRequest] = []
        self.live_calls: set[str] = set()
        self._failures: deque[_Failure] = deque()
        self._arrived = asyncio.Condition()
        self._server: TestServer | None = None

    @property
    def url(self) -> str:
        """The api server's root to give the client (no /v1, no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the fake jambonz API is not started")
        return str(self._server.make_url("")).rstrip("/")

    async def start(self) -> None:
        app = web.Application()
        path = "/v1/Accounts/{account_sid}/Calls/{call_sid}"
        app.router.add_put(path, self._update_call)
        app.router.add_post(path, self._update_call)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def __aenter__(self) -> FakeJambonzApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def add_call(self, call_sid: str) -> None:
        """A call jambonz is handling: updates to any other call sid are 404."""
        self.live_calls.add(call_sid)

    def fail_next(self, count: int, status: int, *, retry_after: str | None = None) -> None:
        """Answer the next `count` requests with `status` (a proxy's plain-text page for a
        5xx), sending Retry-After when given."""
        self._failures.extend(_Failure(status, retry_after) for _ in range(count))

    async def wait_for_requests(self, count: int) -> list[RecordedRequest]:
        """Wait until `count` requests have arrived (wrap in asyncio.timeout); all of them."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return list(self.requests)

    async def _update_call(self, request: web.Request) -> web.StreamResponse:
        recorded = await _record(request)
        async with self._arrived:
            self.requests.append(recorded)
            self._arrived.notify_all()
        failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            return _failure_answer(failure)
        if recorded.authorization != self._authorization:
            # passport-http-bearer's answer to a missing or unknown token
            return web.Response(
                status=401,
                text="Unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="Users", error="invalid_token"'},
            )
        if not _UUID.fullmatch(recorded.account_sid) or not _UUID.fullmatch(recorded.call_sid):
            return web.json_response({"msg": "Bad request"}, status=400)
        if recorded.account_sid != self.account_sid:
            # jambonz's sysError has no case for its DbErrorForbidden: it answers 500
            return web.json_response({"msg": "insufficient permissions"}, status=500)
        refusal = _refusal(recorded)
        if refusal is not None:
            return refusal
        if recorded.call_sid not in self.live_calls:
            return web.Response(status=404, text="Not Found")
        return web.Response(status=202, text="Accepted")


async def _record(request: web.Request) -> RecordedRequest:
    text = await request.text()
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text
    return RecordedRequest(
        method=request.method,
        path=request.path,
        account_sid=request.match_info["account_sid"],
        call_sid=request.match_info["call_sid"],
        authorization=request.headers.get("Authorization"),
        content_type=request.content_type,
        body=body,
    )


def _failure_answer(failure: _Failure) -> web.Response:
    if failure.status == 429:
        answer = web.json_response({"msg": "Too Many Requests"}, status=429)
    else:
        reason = web.Response(status=failure.status).reason or "Error"
        answer = web.Response(status=failure.status, text=f"<html>{reason}</html>")
    if failure.retry_after is not None:
        answer.headers["Retry-After"] = failure.retry_after
    return answer


def _refusal(recorded: RecordedRequest) -> web.Response | None:
    """jambonz's 400 for an update it will not forward, or None."""
    body = recorded.body
    if recorded.content_type != "application/json" or not isinstance(body, dict):
        # express.json() leaves a non-JSON body empty: no valid options
        return _bad_request("no valid options supplied to updateCall")
    kinds = [kind for kind in _UPDATE_KINDS if body.get(kind)]
    if not kinds and not body.get("whisper"):
        return _bad_request("no valid options supplied to updateCall")
    if len(kinds) > 1:  # jambonz's two allowed pairs (call_hook + child_call_hook...) aside
        return _bad_request("multiple options are not allowed in updateCall")
    return _hook_refusal(body.get("call_hook"))


def _hook_refusal(hook: Any) -> web.Response | None:
    if hook is None or isinstance(hook, str):
        return None
    if isinstance(hook, dict) and isinstance(hook.get("url"), str):
        return None
    return _bad_request("call_hook must be string or an object containing a url property")


def _bad_request(message: str) -> web.Response:
    return web.json_response({"msg": message}, status=400)
