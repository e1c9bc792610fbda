"""Twilio's Messages resource on 127.0.0.1, speaking its wire format: a created Message as
JSON (201), Twilio's JSON error body for what it refuses, every request recorded. It can be
told to fail, drop or stall the next requests, for the retry rules.

    fake = FakeTwilioMessages(ACCOUNT_SID, AUTH_TOKEN)
    await fake.start()  # then point a TwilioRestClient at fake.url
    ...
    await fake.close()

Like Twilio's test credentials, To +15005550001 is refused as an invalid number (21211)."""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

INVALID_TO = "+15005550001"  # Twilio's magic test number for an invalid To
MAX_BODY = 1600
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
# GSM 03.38 basic set and its extension (each extension character costs two septets).
_GSM = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = set("^{}\\[~]|€\f")
_STATUS_CODES = {429: 20429, 500: 20500, 502: 20502, 503: 20503}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One POST as it arrived: the account in its path, its Authorization header and its
    form fields in order (repeated ones included)."""

    account_sid: str
    authorization: str | None
    form: tuple[tuple[str, str], ...]

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.form)


@dataclass(frozen=True, slots=True)
class _Failure:
    status: int  # 0: drop the connection without an answer
    retry_after: str | None = None
    stall_seconds: float = 0.0


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's JSON error body."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def sms_segments(body: str) -> int:
    """How many SMS segments Twilio bills `body` as: GSM-7 (160, or 153 per part when
    concatenated) when every character is in the GSM set, else UCS-2 (70, or 67)."""
    if all(char in _GSM or char in _GSM_EXTENSION for char in body):
        units = sum(2 if char in _GSM_EXTENSION else 1 for char in body)
        single, part = 160, 153
    else:
        units = len(body.encode("utf-16-le", errors="surrogatepass")) // 2
        single, part = 70, 67
    return 1 if units <= single else -(-units // part)


class FakeTwilioMessages:
    """POST /2010-04-01/Accounts/{AccountSid}/Messages.json as Twilio answers it."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._authorization = f"Basic {credentials}"
        self.requests: list[RecordedRequest] = []
        self.created: list[dict[str, Any]] = []  # the resources answered with 201
        self._failures: deque[_Failure] = deque()
        self._server: TestServer | None = None

    @property
    def url(self) -> str:
        """The base URL to give the client (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the fake Twilio is not started")
        return str(self._server.make_url("")).rstrip("/")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account_sid}/Messages.json", self._create)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def __aenter__(self) -> FakeTwilioMessages:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def fail_next(self, count: int, status: int, *, retry_after: str | None = None) -> None:
        """Answer the next `count` requests with `status` and Twilio's error body (20429
        for 429, 205xx for a 5xx), sending Retry-After when given."""
        self._failures.extend(_Failure(status, retry_after) for _ in range(count))

    def drop_next(self, count: int = 1) -> None:
        """Close the connection of the next `count` requests after reading them."""
        self._failures.extend(_Failure(0) for _ in range(count))

    def stall_next(self, seconds: float, count: int = 1) -> None:
        """Hold the next `count` requests for `seconds`, then create the message."""
        self._failures.extend(_Failure(201, stall_seconds=seconds) for _ in range(count))

    async def _create(self, request: web.Request) -> web.StreamResponse:
        raw = await request.post()
        form = tuple((name, str(value)) for name, value in raw.items())
        account_sid = request.match_info["account_sid"]
        authorization = request.headers.get("Authorization")
        self.requests.append(RecordedRequest(account_sid, authorization, form))
        scripted = await self._scripted(request)
        if scripted is not None:
            return scripted
        if authorization != self._authorization:
            return _error(401, 20003, "Authenticate")
        if account_sid != self.account_sid:
            return _error(403, 20003, "Permission Denied")
        refusal = _refusal(dict(form))
        if refusal is not None:
            return refusal
        resource = self._resource(dict(form))
        self.created.append(resource)
        return web.json_response(resource, status=201)

    async def _scripted(self, request: web.Request) -> web.StreamResponse | None:
        """The answer a queued failure asks for; None to go on as Twilio would."""
        failure = self._failures.popleft() if self._failures else None
        if failure is None:
            return None
        if failure.stall_seconds:
            await asyncio.sleep(failure.stall_seconds)
            return None
        if failure.status == 0:
            assert request.transport is not None
            request.transport.close()
            return web.Response()  # never reaches the client: the connection is gone
        reason = web.Response(status=failure.status).reason or "Error"
        answer = _error(failure.status, _STATUS_CODES.get(failure.status, 20001), reason)
        if failure.retry_after is not None:
            answer.headers["Retry-After"] = failure.retry_after
        return answer

    def _resource(self, fields: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        service = fields.get("MessagingServiceSid")
        body = fields.get("Body", "")
        created = format_datetime(datetime.now(UTC).replace(microsecond=0))
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": created,
            "date_sent": None,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": None if service and "From" not in fields else fields.get("From"),
            "messaging_service_sid": service,
            "num_media": "0",
            # a Messaging Service has not picked the sender yet, so Twilio says 0
            "num_segments": "0" if service else str(sms_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": fields["To"],
            "uri": f"{uri}.json",
        }


def _refusal(fields: dict[str, str]) -> web.Response | None:
    """Twilio's 400 for a create it will not send, or None."""
    to = fields.get("To", "")
    body = fields.get("Body", "")
    if not to:
        return _error(400, 21604, "A 'To' phone number is required.")
    if not _E164.fullmatch(to) or to == INVALID_TO:
        return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not fields.get("From") and not fields.get("MessagingServiceSid"):
        return _error(
            400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message"
        )
    if not body and not fields.get("MediaUrl"):
        return _error(400, 21602, "Message body is required.")
    if len(body.encode("utf-16-le", errors="surrogatepass")) // 2 > MAX_BODY:
        return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    return None


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(error_body(status, code, message), status=status)
