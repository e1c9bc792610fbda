"""The TwiML we answer Twilio with: structure, attributes, escaping; checked against the
documents Twilio's own TwiML builder makes for the same instructions."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest

# the twilio package ships no type hints; its TwiML builder is only the reference here
from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from callcenter.gateways.twilio.twiml import (
    CALL_ID_PARAMETER,
    HOLD_PAUSE_SECONDS,
    SIP_CALL_ID_HEADER,
    dial_agent,
    hold_loop,
    say_and_hangup,
    stream_and_hold,
)

Tree = tuple[str, tuple[tuple[str, str], ...], str, tuple["Tree", ...]]
STREAM = "wss://cc.example.com/twilio/stream?tenant=acme&region=eu"
HOLD = "https://cdn.example.com/hold/jazz.mp3"
REDIRECT = "https://cc.example.com/twilio/hold?call=abc&n=1"
NASTY = "<&>\"' \u00e9\U0001f4de"


def parse(document: str) -> ET.Element:
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(document)
    assert root.tag == "Response"
    return root


def tree(element: ET.Element) -> Tree:
    return (
        element.tag,
        tuple(sorted(element.attrib.items())),
        (element.text or "").strip(),
        tuple(tree(child) for child in element),
    )


def test_stream_and_hold_with_music() -> None:
    root = parse(stream_and_hold(STREAM, "call-1", HOLD, redirect_url=REDIRECT))
    assert [child.tag for child in root] == ["Start", "Play", "Redirect"]
    stream = root.find("Start/Stream")
    assert stream is not None
    assert stream.attrib == {"url": STREAM, "track": "both_tracks"}
    parameters = stream.findall("Parameter")
    assert [p.attrib for p in parameters] == [{"name": CALL_ID_PARAMETER, "value": "call-1"}]
    play = root.find("Play")
    assert play is not None and play.text == HOLD and play.get("loop") == "0"
    redirect = root.find("Redirect")
    assert redirect is not None and redirect.text == REDIRECT and redirect.get("method") == "POST"


def test_stream_and_hold_matches_twilios_builder() -> None:
    reference = VoiceResponse()
    stream = reference.start().stream(url=STREAM, track="both_tracks")
    stream.parameter(name=CALL_ID_PARAMETER, value="call-1")
    reference.play(HOLD, loop=0)
    ours = stream_and_hold(STREAM, "call-1", HOLD)
    assert tree(parse(ours)) == tree(parse(str(reference)))


def test_a_silent_hold_pauses_and_redirects() -> None:
    root = parse(stream_and_hold(STREAM, "call-1", None, redirect_url=REDIRECT))
    assert [child.tag for child in root] == ["Start", "Pause", "Redirect"]
    pause = root.find("Pause")
    assert pause is not None and pause.get("length") == str(HOLD_PAUSE_SECONDS)
    with pytest.raises(ValueError, match="redirect_url"):
        stream_and_hold(STREAM, "call-1", None)


def test_the_redirected_hold_does_not_start_a_second_stream() -> None:
    root = parse(hold_loop(HOLD, REDIRECT))
    assert [child.tag for child in root] == ["Play", "Redirect"]
    assert root.find(".//Stream") is None


def test_stream_options() -> None:
    document = stream_and_hold(
        STREAM,
        "call-1",
        HOLD,
        track="inbound_track",
        status_callback_url="https://cc.example.com/twilio/stream-status",
    )
    stream = parse(document).find("Start/Stream")
    assert stream is not None
    assert stream.get("track") == "inbound_track"
    assert stream.get("statusCallback") == "https://cc.example.com/twilio/stream-status"
    assert stream.get("statusCallbackMethod") == "POST"
    with pytest.raises(ValueError, match="wss"):
        stream_and_hold("https://cc.example.com/stream", "call-1", HOLD)


def test_stream_parameters_follow_the_call_id_and_match_twilios_builder() -> None:
    binding = {"binding_expires": "1700003600", "binding": "ab" * 32}
    ours = stream_and_hold(STREAM, "call-1", HOLD, parameters=binding)
    stream = parse(ours).find("Start/Stream")
    assert stream is not None
    assert [p.attrib for p in stream.findall("Parameter")] == [
        {"name": CALL_ID_PARAMETER, "value": "call-1"},
        {"name": "binding_expires", "value": "1700003600"},
        {"name": "binding", "value": "ab" * 32},
    ]
    reference = VoiceResponse()
    started = reference.start().stream(url=STREAM, track="both_tracks")
    started.parameter(name=CALL_ID_PARAMETER, value="call-1")
    for name, value in binding.items():
        started.parameter(name=name, value=value)
    reference.play(HOLD, loop=0)
    assert tree(parse(ours)) == tree(parse(str(reference)))
    with pytest.raises(ValueError, match="set from call_id"):
        stream_and_hold(STREAM, "call-1", HOLD, parameters={CALL_ID_PARAMETER: "other"})


def test_every_value_is_escaped() -> None:
    url = STREAM + "&q=" + NASTY
    document = stream_and_hold(url, NASTY, HOLD + "?a=1&b=" + NASTY, redirect_url=REDIRECT)
    assert "&b=" not in document and "&amp;b=" in document  # raw & never reaches the wire
    root = parse(document)
    stream = root.find("Start/Stream")
    parameter = root.find("Start/Stream/Parameter")
    play = root.find("Play")
    assert stream is not None and parameter is not None and play is not None
    assert stream.get("url") == url
    assert parameter.get("value") == NASTY
    assert play.text == HOLD + "?a=1&b=" + NASTY


def test_dial_a_voice_sdk_client() -> None:
    for target in ("client:agent-7", "agent-7"):
        root = parse(dial_agent(target, "call-1"))
        dial = root.find("Dial")
        assert dial is not None and dial.get("answerOnBridge") == "true"
        identity = root.find("Dial/Client/Identity")
        parameter = root.find("Dial/Client/Parameter")
        assert identity is not None and identity.text == "agent-7"
        assert parameter is not None
        assert parameter.attrib == {"name": CALL_ID_PARAMETER, "value": "call-1"}
    reference = VoiceResponse()
    client = reference.dial(answer_on_bridge=True).client()
    client.identity("agent-7")
    client.parameter(name=CALL_ID_PARAMETER, value="call-1")
    assert tree(parse(dial_agent("client:agent-7", "call-1"))) == tree(parse(str(reference)))


def test_dial_options() -> None:
    root = parse(
        dial_agent("agent-7", "call-1", timeout_seconds=15, action_url="https://cc.example.com/d")
    )
    dial = root.find("Dial")
    assert dial is not None
    assert dial.get("timeout") == "15"
    assert (dial.get("action"), dial.get("method")) == ("https://cc.example.com/d", "POST")
    with pytest.raises(ValueError, match="identity"):
        dial_agent("client:", "call-1")


@pytest.mark.parametrize(
    "uri",
    ["sip:agent7@pbx.example.com", "sips:agent7@pbx.example.com;transport=tls", "SIP:a@b.example"],
)
def test_dial_a_sip_agent_passes_the_call_id_as_a_header(uri: str) -> None:
    root = parse(dial_agent(uri, "call 1&2"))
    sip = root.find("Dial/Sip")
    assert sip is not None and sip.text is not None
    assert root.find("Dial/Client") is None
    assert sip.text.startswith(uri + "?")
    assert parse_qs(urlsplit(sip.text).query) == {SIP_CALL_ID_HEADER: ["call 1&2"]}


def test_a_sip_uri_with_headers_keeps_them() -> None:
    root = parse(dial_agent("sip:agent7@pbx.example.com?X-Team=billing", "c1"))
    sip = root.find("Dial/Sip")
    assert sip is not None and sip.text is not None
    query = parse_qs(urlsplit(sip.text).query)
    assert query == {"X-Team": ["billing"], SIP_CALL_ID_HEADER: ["c1"]}


def test_say_and_hangup() -> None:
    root = parse(say_and_hangup("All agents are busy & we're closed <sorry>."))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    say = root.find("Say")
    assert say is not None and say.text == "All agents are busy & we're closed <sorry>."
    assert say.attrib == {}
    voiced = parse(say_and_hangup("Hola", voice="Polly.Lupe", language="es-US")).find("Say")
    assert voiced is not None and voiced.attrib == {"voice": "Polly.Lupe", "language": "es-US"}
    reference = VoiceResponse()
    reference.say("Goodbye")
    reference.hangup()
    assert tree(parse(say_and_hangup("Goodbye"))) == tree(parse(str(reference)))


@pytest.mark.parametrize("bad", ["bell\x07", "nul\x00", "esc\x1b[0m", "\ud800"])
def test_text_xml_cannot_carry_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="XML"):
        say_and_hangup(bad)
    with pytest.raises(ValueError, match="XML"):
        dial_agent("agent-7", bad)
