"""Twilio's REST Calls resource: the call update, the way decisions reach a live Twilio
call, and the call create, the way a callback reaches the customer.

Update: `POST {base}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`, HTTP basic
auth AccountSid:AuthToken, form fields `Twiml` (or `Url` + `Method`) and/or `Status`. 429
and 5xx answers, and connections that never reached Twilio, are retried with bounded
exponential back-off (honouring Retry-After); other 4xx are final. A request that may have
reached Twilio (a timeout, a dropped connection) is not repeated: replaying a <Dial>
would ring the agent twice.

Create: `POST .../Calls.json` with `To`, `From`, `Twiml`, `StatusCallback` and one
`StatusCallbackEvent` field per event. Only what Twilio certainly did not act on is
retried: a connection that never reached it, and 429. A 5xx, a timeout or a dropped
connection may have placed the call, so it is raised at once: a second create would ring
the customer twice.

aiohttp is used here as an HTTP *client* with a session the caller owns (the STYLE rule
that only web/ imports aiohttp is about the server side)."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Literal

import aiohttp
import msgspec

from callcenter.backoff import Backoff
from callcenter.errors import CallcenterError
from callcenter.gateways.rest_retries import Answer, RetryPolicy, send_with_retries

DEFAULT_BASE_URL = "https://api.twilio.com"
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
StatusEvent = Literal["initiated", "ringing", "answered", "completed"]


class TwilioApiError(CallcenterError):
    """Twilio refused a request, or could not be reached (`status` None).

    `code` and `message` come from Twilio's JSON error body (e.g. 20404, "The requested
    resource ... was not found"); `more_info` links Twilio's page for the code."""

    def __init__(
        self,
        status: int | None,
        code: int | None,
        message: str,
        more_info: str | None = None,
    ) -> None:
        super().__init__(status, code, message, more_info)
        self.status = status
        self.code = code
        self.message = message
        self.more_info = more_info

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no response"
        code = f" error {self.code}" if self.code is not None else ""
        return f"Twilio API{code} ({where}): {self.message}"


class TwilioCall(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of Twilio's call resource the service reads (the rest are ignored)."""

    sid: str
    status: str
    account_sid: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    direction: str | None = None
    parent_call_sid: str | None = None


class _ErrorBody(msgspec.Struct, frozen=True):
    code: int | None = None
    message: str | None = None
    more_info: str | None = None


class TwilioRestClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        account_sid: str,
        auth_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        max_attempts: int = 4,
        first_backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 8.0,
        timeout_seconds: float = 10.0,
    ) -> None:
        """Raises ValueError for an account SID that is not AC + 32 hex digits."""
        if not _ACCOUNT_SID.fullmatch(account_sid):
            raise ValueError("a Twilio account SID is AC followed by 32 hex digits")
        self._session = session
        self._account_sid = account_sid
        # built by hand: aiohttp.BasicAuth is deprecated in 3.14, its successor is not in 3.9
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {credentials}", "Accept": "application/json"}
        self._base_url = base_url.rstrip("/")
        self._max_attempts = max(1, max_attempts)
        self._backoff = Backoff(first_backoff_seconds, max_backoff_seconds)
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def update_call(
        self,
        call_sid: str,
        *,
        twiml: str | None = None,
        url: str | None = None,
        method: Literal["GET", "POST"] = "POST",
        status: Literal["completed", "canceled"] | None = None,
    ) -> TwilioCall:
        """Replace the live call's TwiML (`twiml`, or a `url` to fetch it from) and/or end
        it (`status`). Returns the call resource Twilio answers with.

        Raises ValueError for a bad call SID or argument combination, TwilioApiError when
        Twilio refuses or stays unreachable after the retries."""
        if not _CALL_SID.fullmatch(call_sid):
            raise ValueError("a Twilio call SID is CA followed by 32 hex digits")
        if twiml is not None and url is not None:
            raise ValueError("give twiml or url, not both")
        form: dict[str, str] = {}
        if twiml is not None:
            form["Twiml"] = twiml
        if url is not None:
            form.update(Url=url, Method=method)
        if status is not None:
            form["Status"] = status
        if not form:
            raise ValueError("nothing to update: give twiml, url or status")
        endpoint = f"{self._calls_url}/{call_sid}.json"
        body = await self._post(endpoint, list(form.items()), f"the call update of {call_sid}")
        return _call_resource(body)

    async def create_call(
        self,
        to: str,
        from_: str,
        twiml: str,
        status_callback: str,
        status_events: Sequence[StatusEvent] = ("initiated", "ringing", "answered", "completed"),
        *,
        timeout_seconds: int | None = None,
    ) -> TwilioCall:
        """Place a call to `to` from `from_` (a number of the account) that runs `twiml`
        when answered, with status callbacks (POST) to `status_callback` for each of
        `status_events`; `timeout_seconds` is how long it rings. Returns the new call's
        resource (status `queued`).

        Raises TwilioApiError: with a 4xx status when Twilio refused (e.g. 21211, an
        invalid `To`), otherwise when it is not known whether the call was placed."""
        form = [("To", to), ("From", from_), ("Twiml", twiml)]
        form += [("StatusCallback", status_callback), ("StatusCallbackMethod", "POST")]
        form += [("StatusCallbackEvent", event) for event in status_events]
        if timeout_seconds is not None:
            form.append(("Timeout", str(timeout_seconds)))
        body = await self._post(
            f"{self._calls_url}.json", form, "a call create", retry_server_errors=False
        )
        return _call_resource(body)

    async def post_to_account(
        self,
        resource: str,
        form: Sequence[tuple[str, str]],
        subject: str,
        *,
        retry_server_errors: bool = False,
    ) -> bytes:
        """POST `form` to `{base}/2010-04-01/Accounts/{AccountSid}/{resource}` (e.g.
        "Messages.json") with this client's credentials and retry rules; returns the 2xx
        body. A 5xx is retried only when `retry_server_errors` (safe for an update, not
        for a create). `subject` names the request in logs. Raises TwilioApiError."""
        endpoint = f"{self._base_url}/2010-04-01/Accounts/{self._account_sid}/{resource}"
        return await self._post(
            endpoint, list(form), subject, retry_server_errors=retry_server_errors
        )

    @property
    def _calls_url(self) -> str:
        return f"{self._base_url}/2010-04-01/Accounts/{self._account_sid}/Calls"

    async def _post(
        self,
        endpoint: str,
        form: list[tuple[str, str]],
        subject: str,
        *,
        retry_server_errors: bool = True,
    ) -> bytes:
        """POST the form; retry 429, connections that never opened and (when
        `retry_server_errors`) 5xx. Raises TwilioApiError."""

        async def send() -> Answer:
            async with self._session.post(
                endpoint, data=form, headers=self._headers, timeout=self._timeout
            ) as answer:
                body = await answer.read()
                return Answer(answer.status, body, answer.headers.get("Retry-After"))

        policy = RetryPolicy(
            service="Twilio",
            backoff=self._backoff,
            attempts=self._max_attempts,
            failure=lambda answer: _api_error(answer.status, answer.body),
            lost=lambda reason: TwilioApiError(None, None, reason),
            retryable=lambda failure: _retryable(failure, retry_server_errors),
        )
        return await send_with_retries(send, policy, subject)


def _retryable(failure: TwilioApiError, server_errors: bool) -> bool:
    """Whether Twilio certainly did not act on the request, or may safely act twice."""
    if failure.status is None or failure.status == 429:
        return True  # only connections that never opened get here with no status
    return server_errors and failure.status >= 500


def _call_resource(body: bytes) -> TwilioCall:
    try:
        return msgspec.json.decode(body, type=TwilioCall)
    except msgspec.DecodeError as error:
        raise TwilioApiError(200, None, f"unreadable call resource: {error}") from error


def _api_error(status: int, body: bytes) -> TwilioApiError:
    """Twilio's JSON error body ({"code", "message", "more_info", "status"}) as an error;
    a body that is not one keeps the HTTP status and a short excerpt."""
    try:
        error = msgspec.json.decode(body, type=_ErrorBody)
    except msgspec.DecodeError:
        excerpt = body[:200].decode(errors="replace")
        return TwilioApiError(status, None, excerpt or "empty response")
    return TwilioApiError(status, error.code, error.message or "no message", error.more_info)
