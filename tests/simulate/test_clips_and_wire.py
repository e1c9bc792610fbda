"""The pieces the simulator speaks with: the shipped mu-law clips, Twilio signatures (as
Twilio's own library computes them), TwiML reading, Prometheus text, the summary table."""

from __future__ import annotations

from importlib import resources

import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from callcenter.errors import Unauthorized
from callcenter.gateways.generic.signature import check_signature
from callcenter.media.codecs import pcm16_to_ulaw, ulaw_to_pcm16
from callcenter.simulate.clips import (
    LINES,
    ClipError,
    decode_mulaw_wav,
    encode_mulaw_wav,
    shipped_clips,
)
from callcenter.simulate.command import load
from callcenter.simulate.generic_gateway import signed_headers
from callcenter.simulate.ledger import Ledger, Outcome
from callcenter.simulate.metrics_check import Sample, compare
from callcenter.simulate.report import summary
from callcenter.simulate.traffic import plan_calls
from callcenter.simulate.twilio_gateway import (
    dialed_agent,
    http_url,
    stream_target,
    twilio_signature,
)


def test_the_shipped_clips_are_small_8khz_mulaw_with_every_mood() -> None:
    clips = shipped_clips()
    assert set(clips) == {"angry", "neutral", "happy"}
    folder = resources.files("callcenter.simulate").joinpath("audio")
    total = 0
    for mood, found in clips.items():
        assert len(found) == len(LINES[mood]) >= 2
        for clip in found:
            assert 4.0 < clip.seconds < 12.0
            size = len(folder.joinpath(f"{clip.name}.wav").read_bytes())
            total += size
            assert size < 100_000
            assert all(len(frame) == 160 for frame in clip.frames())
    assert total < 500_000


def test_mulaw_wav_round_trip_and_refusals() -> None:
    pcm = bytes(range(256)) * 20
    mulaw = pcm16_to_ulaw(pcm)
    data = encode_mulaw_wav(mulaw)
    assert decode_mulaw_wav(data, "x.wav") == mulaw
    assert len(ulaw_to_pcm16(mulaw)) == len(pcm)
    with pytest.raises(ClipError, match="not a RIFF/WAVE file"):
        decode_mulaw_wav(b"OggS....", "x.ogg")
    pcm_wav = data.replace(b"\x07\x00\x01\x00", b"\x01\x00\x01\x00", 1)  # format 1: PCM
    with pytest.raises(ClipError, match="expected mu-law 8 kHz mono, got format 1"):
        decode_mulaw_wav(pcm_wav, "pcm.wav")


def test_signatures_match_twilios_own_library() -> None:
    form = {"CallSid": "CA" + "a" * 32, "From": "+15551230000", "CallStatus": "ringing", "B": ""}
    url = "http://127.0.0.1:8080/gateways/twilio/voice"
    assert twilio_signature("secret", url, form) == RequestValidator("secret").compute_signature(
        url, form
    )
    assert http_url("ws://127.0.0.1:8080/media/twilio") == "http://127.0.0.1:8080/media/twilio"
    assert http_url("wss://cc.example.com/media/twilio") == "https://cc.example.com/media/twilio"


def test_generic_signatures_pass_the_servers_check() -> None:
    body = b'{"type": "call.created", "event_id": "e1", "call_id": "c1"}'
    headers = signed_headers("secret", body, 1_700_000_000.4)
    digest = check_signature(
        "secret",
        headers["X-Callcenter-Timestamp"],
        headers["X-Callcenter-Signature"],
        body,
        now=1_700_000_010,
        tolerance_seconds=300,
    )
    assert headers["X-Callcenter-Signature"] == "v1=" + digest
    with pytest.raises(Unauthorized):
        check_signature(
            "other",
            headers["X-Callcenter-Timestamp"],
            headers["X-Callcenter-Signature"],
            body,
            now=1_700_000_010,
            tolerance_seconds=300,
        )


def test_reading_the_servers_twiml() -> None:
    answer = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Start><Stream '
        'url="ws://127.0.0.1:8080/media/twilio" track="both_tracks"><Parameter name="call_id" '
        'value="CA1" /></Stream></Start><Pause length="60" /></Response>'
    )
    target = stream_target(answer)
    assert target is not None
    assert (target.url, target.parameters) == (
        "ws://127.0.0.1:8080/media/twilio",
        {"call_id": "CA1"},
    )
    assert stream_target("<Response><Pause/></Response>") is None
    with pytest.raises(ValueError):
        stream_target("not xml")
    assert (
        dialed_agent("<Response><Dial><Client><Identity>ann</Identity></Client></Dial></Response>")
        == "ann"
    )
    assert dialed_agent("<Response><Dial><Client>bob</Client></Dial></Response>") == "bob"
    assert (
        dialed_agent("<Response><Dial><Sip>sip:cid@pbx.example.com</Sip></Dial></Response>")
        == "cid"
    )
    assert dialed_agent("<Response><Say>hi</Say></Response>") is None


EXPOSITION = """\
# HELP callcenter_calls_total Calls finished, by queue and outcome.
# TYPE callcenter_calls_total counter
callcenter_calls_total{{queue="billing",outcome="handled"}} {handled}
callcenter_calls_total{{queue="billing",outcome="abandoned"}} 1.0
# HELP callcenter_events_total Gateway events received.
# TYPE callcenter_events_total counter
callcenter_events_total{{dialect="twilio",type="call.created",result="applied"}} 3.0
callcenter_events_total{{dialect="twilio",type="call.ended",result="applied"}} 3.0
# HELP callcenter_alerts_total Alerts raised.
# TYPE callcenter_alerts_total counter
"""


def test_the_servers_counts_against_ours() -> None:
    demo = load("demo")
    ledger = Ledger()
    for index, plan in enumerate(p for p in plan_calls(demo, "x") if p.queue == "billing"):
        if index == 3:
            break
        record = ledger.add(plan)
        record.placed_at, record.hung_up_at = 0.0, 5.0
        record.connected_at = 1.0 if index < 2 else None
        record.outcome = Outcome.SERVED if index < 2 else Outcome.ABANDONED
    ledger.events["call.created", "sent"] = 3
    ledger.events["call.ended", "sent"] = 3
    before = Sample.parse("")
    checks = compare(before, Sample.parse(EXPOSITION.format(handled="2.0")), ledger, "twilio")
    by_name = {c.what: c for c in checks}
    assert by_name["callcenter_calls_total{queue=billing,outcome=handled}"].got == 2
    assert by_name["callcenter_alerts_total (all kinds)"].got == 0  # declared, never counted
    assert by_name["callcenter_queue_wait_seconds_count{queue=billing}"].got is None  # absent
    assert all(c.ok for c in checks)
    wrong = compare(before, Sample.parse(EXPOSITION.format(handled="3.0")), ledger, "twilio")
    assert [c.what for c in wrong if not c.ok] == [
        "callcenter_calls_total{queue=billing,outcome=handled}"
    ]
    lines = summary(demo, ledger, elapsed=12.0, interrupted=True, checks=wrong)
    text = "\n".join(lines)
    assert "STOPPED EARLY" in lines[0]
    row = next(line for line in lines if line.startswith("billing"))
    assert row.split()[:4] == ["billing", "3", "2", "1"]
    assert "33.3%" in row  # abandoned: 1 of 3
    assert "server metrics: 1 of" in text and "server 3, simulator 2" in text
    assert "routing errors: 0" in text
