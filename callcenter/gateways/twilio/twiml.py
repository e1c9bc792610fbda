"""TwiML documents the service answers Twilio with, or sends in a REST call update.

Built with xml.etree, so every text and attribute value is escaped; text that XML cannot
carry at all (control characters) is refused rather than sent. URLs in TwiML sent by a
REST call update must be absolute (Twilio error 15004), so every URL here is.

Holding: the service does its own queueing (Redis, across instances), so a waiting caller
is not handed to Twilio's <Enqueue>: a Twilio queue has its own size limit and ordering,
and would be a second source of truth for who waits. The caller instead hears a hold loop
(<Play loop="0"> of hold music, or silence) that runs until a REST call update replaces
the call's TwiML with <Dial> to the chosen agent. <Play loop="0"> stops after 1000 plays,
so a <Redirect> to `redirect_url` (answered with `hold_loop`) starts it again.

With wait announcements or a callback offer the hold goes in turns instead (`HoldTurn`):
what is due is said, the music plays once (or a pause), and a <Redirect> asks for the
next turn; a one-key <Gather> around the music lets the caller take the offer at any time."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

StreamTrack = Literal["inbound_track", "outbound_track", "both_tracks"]
CALL_ID_PARAMETER = "call_id"
SIP_CALL_ID_HEADER = "X-Callcenter-Call-Id"
HOLD_PAUSE_SECONDS = 60
OFFER_GATHER_TIMEOUT_SECONDS = 1  # after the hold music: the next turn comes at once

_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
# Characters XML 1.0 cannot carry, escaped or not.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def stream_and_hold(
    stream_url: str,
    call_id: str,
    hold_url: str | None,
    *,
    redirect_url: str | None = None,
    track: StreamTrack = "both_tracks",
    status_callback_url: str | None = None,
    parameters: Mapping[str, str] | None = None,
    insecure_ok: bool = False,
    turn: HoldTurn | None = None,
) -> str:
    """Fork the call's audio to `stream_url` (a wss:// URL; the stream's start message
    carries `call_id`, then each of `parameters` (such as the stream's binding to the call),
    in customParameters) and hold the caller.

    `track` defaults to both, so the caller and the agent are transcribed separately.
    Without `redirect_url` the hold (and the call) ends when <Play loop="0"> gives up
    after 1000 plays. `insecure_ok` allows ws:// (a local test peer; Twilio itself needs
    wss). Raises ValueError for a non-wss stream URL, a silent hold (no
    `hold_url`) without `redirect_url`, a parameter named call_id, or text that XML cannot
    carry. With `turn`, the hold is that turn (its own redirect) instead of the loop."""
    if not stream_url.startswith("wss://") and not (insecure_ok and stream_url.startswith("ws://")):
        raise ValueError("Twilio streams only to wss:// URLs")
    if hold_url is None and redirect_url is None and turn is None:
        raise ValueError("a silent hold needs a redirect_url, or it ends after one pause")
    response = ET.Element("Response")
    stream = ET.SubElement(ET.SubElement(response, "Start"), "Stream")
    _set(stream, url=stream_url, track=track)
    if status_callback_url is not None:
        _set(stream, statusCallback=status_callback_url, statusCallbackMethod="POST")
    _parameters(stream, call_id, parameters or {})
    if turn is not None:
        _turn(response, hold_url, turn)
    else:
        _hold(response, hold_url, redirect_url)
    return _document(response)


def hold_loop(hold_url: str | None, redirect_url: str) -> str:
    """The hold alone (no new stream): for the <Redirect> that keeps a long hold going."""
    response = ET.Element("Response")
    _hold(response, hold_url, redirect_url)
    return _document(response)


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldTurn:
    """One turn of a hold: `announcement` said first; then the hold music played once (or a
    pause of `pause_seconds`), inside a one-key <Gather> posting to `offer_url` when there
    is one (its `offer` prompt said before the music); then a <Redirect> to `redirect_url`
    for the next turn."""

    redirect_url: str
    announcement: str | None = None
    offer: str | None = None
    offer_url: str | None = None
    pause_seconds: int = HOLD_PAUSE_SECONDS


def hold_turn(hold_url: str | None, turn: HoldTurn) -> str:
    """One turn of the hold (no new stream). Raises ValueError for text XML cannot carry."""
    response = ET.Element("Response")
    _turn(response, hold_url, turn)
    return _document(response)


def gather_digits(
    prompt: str,
    action_url: str,
    *,
    fallback_url: str,
    num_digits: int = 1,
    finish_on_key: str | None = None,
    timeout_seconds: int = 5,
    preface: str | None = None,
) -> str:
    """Say `prompt` inside a DTMF <Gather> of up to `num_digits` keys posting to
    `action_url` (`preface` said before it); when nothing is pressed, <Redirect> to
    `fallback_url`. Raises ValueError for text XML cannot carry."""
    response = ET.Element("Response")
    if preface is not None:
        ET.SubElement(response, "Say").text = preface
    gather = ET.SubElement(response, "Gather")
    _set(
        gather,
        input="dtmf",
        numDigits=str(num_digits),
        action=action_url,
        method="POST",
        timeout=str(timeout_seconds),
    )
    if finish_on_key is not None:
        _set(gather, finishOnKey=finish_on_key)
    ET.SubElement(gather, "Say").text = prompt
    ET.SubElement(response, "Redirect", method="POST").text = fallback_url
    return _document(response)


def redirect(url: str) -> str:
    """Go on with the TwiML at `url` (POST)."""
    response = ET.Element("Response")
    ET.SubElement(response, "Redirect", method="POST").text = url
    return _document(response)


def dial_agent(
    client_or_sip_uri: str,
    call_id: str,
    *,
    timeout_seconds: int | None = None,
    action_url: str | None = None,
    greeting: str | None = None,
) -> str:
    """Connect the caller to an agent: `sip:`/`sips:` URIs get <Dial><Sip>, anything else
    is a Voice SDK identity (with or without a `client:` prefix) and gets <Dial><Client>.

    The agent's side learns `call_id` (a <Client> <Parameter>, an X- header on the SIP
    INVITE) for the screen pop. answerOnBridge keeps the caller hearing ringing, not
    silence, until the agent picks up. Raises ValueError for an empty identity or text
    that XML cannot carry. `greeting` is said first (to a customer called back)."""
    response = ET.Element("Response")
    if greeting is not None:
        ET.SubElement(response, "Say").text = greeting
    dial = ET.SubElement(response, "Dial", answerOnBridge="true")
    if timeout_seconds is not None:
        _set(dial, timeout=str(timeout_seconds))
    if action_url is not None:
        _set(dial, action=action_url, method="POST")
    scheme = client_or_sip_uri.split(":", 1)[0].lower()
    if scheme in ("sip", "sips"):
        sip = ET.SubElement(dial, "Sip")
        sip.text = _sip_with_header(client_or_sip_uri, call_id)
    else:
        identity = client_or_sip_uri.removeprefix("client:")
        if not identity:
            raise ValueError("an agent's client identity cannot be empty")
        client = ET.SubElement(dial, "Client")
        ET.SubElement(client, "Identity").text = identity
        _set(ET.SubElement(client, "Parameter"), name=CALL_ID_PARAMETER, value=call_id)
    return _document(response)


def say_and_hangup(text: str, *, voice: str | None = None, language: str | None = None) -> str:
    """Speak `text` to the caller, then end the call. Raises ValueError for text that XML
    cannot carry."""
    response = ET.Element("Response")
    say = ET.SubElement(response, "Say")
    if voice is not None:
        _set(say, voice=voice)
    if language is not None:
        _set(say, language=language)
    say.text = text
    ET.SubElement(response, "Hangup")
    return _document(response)


def _hold(response: ET.Element, hold_url: str | None, redirect_url: str | None) -> None:
    if hold_url is not None:
        ET.SubElement(response, "Play", loop="0").text = hold_url
    else:
        ET.SubElement(response, "Pause", length=str(HOLD_PAUSE_SECONDS))
    if redirect_url is not None:
        ET.SubElement(response, "Redirect", method="POST").text = redirect_url


def _parameters(stream: ET.Element, call_id: str, parameters: Mapping[str, str]) -> None:
    _set(ET.SubElement(stream, "Parameter"), name=CALL_ID_PARAMETER, value=call_id)
    for name, value in parameters.items():
        if name == CALL_ID_PARAMETER:
            raise ValueError(f"the {CALL_ID_PARAMETER} parameter is set from call_id")
        _set(ET.SubElement(stream, "Parameter"), name=name, value=value)


def _turn(response: ET.Element, hold_url: str | None, turn: HoldTurn) -> None:
    if turn.announcement is not None:
        ET.SubElement(response, "Say").text = turn.announcement
    holder = response
    if turn.offer_url is not None:
        holder = ET.SubElement(response, "Gather")
        _set(
            holder,
            input="dtmf",
            numDigits="1",
            action=turn.offer_url,
            method="POST",
            timeout=str(OFFER_GATHER_TIMEOUT_SECONDS),
        )
        if turn.offer is not None:
            ET.SubElement(holder, "Say").text = turn.offer
    if hold_url is not None:
        ET.SubElement(holder, "Play", loop="1").text = hold_url
    else:
        ET.SubElement(holder, "Pause", length=str(max(1, turn.pause_seconds)))
    ET.SubElement(response, "Redirect", method="POST").text = turn.redirect_url


def _sip_with_header(uri: str, call_id: str) -> str:
    """Twilio sends `?X-name=value` parameters of a <Sip> URI as SIP headers."""
    separator = "&" if "?" in uri else "?"
    return f"{uri}{separator}{SIP_CALL_ID_HEADER}={quote(call_id, safe='')}"


def _set(element: ET.Element, **attributes: str) -> None:
    for name, value in attributes.items():
        element.set(name, value)


def _document(root: ET.Element) -> str:
    for element in root.iter():
        for value in (element.text or "", *element.attrib.values()):
            if _NOT_XML.search(value):
                raise ValueError(f"<{element.tag}> holds a character XML cannot carry")
    return _XML_DECLARATION + ET.tostring(root, encoding="unicode")
