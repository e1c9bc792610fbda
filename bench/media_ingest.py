"""Media ingest benchmark: Twilio-format media streams at real-time pace into one server.

N concurrent Media Streams websockets (a `start`, then one 20 ms mu-law `media` message per
stream every 20 ms, as Twilio sends them) go to a `callcenter serve` process (no
transcription: frames end in the media hub), and in the same run the same client feeds a
minimal aiohttp websocket server that receives and drops every message. Each stream belongs
to a Twilio call created, before either measurement, through the signed voice webhook; its
`start` carries our account and the parameters of that call's TwiML, which bind it to the
call; the baseline gets the very same messages. Each server runs in its own process; its CPU
time over the measured window gives the CPU cost per stream (% of one core) and the streams
one core could take. Target: ingest <= 1 % of a core per stream. A stream the server
refuses (close code other than 1000) ends the run.

Run:  python bench/media_ingest.py [--streams 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import WSCloseCode, web

from callcenter.cli import new_event_loop
from callcenter.gateways.twilio.signature import expected_signature
from callcenter.simulate.server_process import ServerSpec, free_port, running_server, serve
from callcenter.simulate.twilio_gateway import stream_target
from callcenter.storage.embedded import embedded_redis

ACCOUNT = "AC" + "1" * 32
TOKEN = "bench-token"
FRAME_SECONDS = 0.02
SCRIPT = __file__
PAYLOAD = base64.b64encode(bytes([0xFF]) * 160).decode()  # 20 ms of mu-law silence


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drop(request: web.Request) -> web.WebSocketResponse:
    socket_ = web.WebSocketResponse(max_msg_size=65536)
    await socket_.prepare(request)
    async for _ in socket_:
        pass
    return socket_


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def serve_baseline(port: int) -> int:
    app = web.Application()
    app.router.add_get("/media/twilio", _drop)
    app.router.add_get("/healthz", _healthz)
    web.run_app(app, host="127.0.0.1", port=port, print=None, loop=new_event_loop("uvloop"))
    return 0


async def place_calls(base_url: str, streams: int) -> list[dict[str, str]]:
    """A call per stream, created as Twilio creates one (the signed voice webhook); the
    customParameters each answer's TwiML gives the call's stream (call_id and its binding).
    Raises RuntimeError for a webhook the server refuses or a TwiML without a stream."""
    url = base_url + "/gateways/twilio/voice"
    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(_place_call(session, url, i) for i in range(streams)))


async def _place_call(session: aiohttp.ClientSession, url: str, index: int) -> dict[str, str]:
    form = {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": f"CA{index:032x}",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": f"+1555{index:07d}",
        "To": "+15559870000",
    }
    headers = {"X-Twilio-Signature": expected_signature(TOKEN, url, form)}
    async with session.post(url, data=form, headers=headers) as answer:
        twiml = await answer.text()
    target = stream_target(twiml) if answer.status == 200 else None
    if target is None:
        raise RuntimeError(f"voice webhook of call {index}: HTTP {answer.status}: {twiml}")
    return target.parameters


def _messages(index: int, parameters: dict[str, str]) -> tuple[str, str]:
    call_sid = f"CA{index:032x}"
    stream_sid = f"MZ{index:032x}"
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": stream_sid,
        "start": {
            "streamSid": stream_sid,
            "accountSid": ACCOUNT,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }
    return json.dumps(start), stream_sid


async def _stream(
    session: aiohttp.ClientSession,
    url: str,
    messages: tuple[str, str],
    until: float,
    sent: list[int],
) -> None:
    headers = {"X-Twilio-Signature": expected_signature(TOKEN, url, {})}
    start, stream_sid = messages
    async with session.ws_connect(url, headers=headers) as ws:
        await ws.send_str(start)
        loop = asyncio.get_running_loop()
        due = loop.time()
        chunk = 0
        while due < until:
            chunk += 1
            await ws.send_str(
                f'{{"event":"media","sequenceNumber":"{chunk + 1}","streamSid":"{stream_sid}",'
                f'"media":{{"track":"inbound","chunk":"{chunk}","timestamp":"{chunk * 20}",'
                f'"payload":"{PAYLOAD}"}}}}'
            )
            sent[0] += 1
            due += FRAME_SECONDS
            await asyncio.sleep(max(0.0, due - loop.time()))
        # after the window: a stream the server refused has its close code waiting here
        await ws.close()
        if ws.close_code != WSCloseCode.OK:
            raise RuntimeError(f"{url} closed stream {stream_sid} with {ws.close_code}")


async def measure(
    url: str, pid: int, starts: list[tuple[str, str]], seconds: float
) -> tuple[float, int, float]:
    """(server CPU seconds, frames sent, wall seconds) over the measured window, a stream
    for each of `starts` (start message, stream sid)."""
    sent = [0]
    async with aiohttp.ClientSession() as session:
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds + 1.0
        tasks = [asyncio.create_task(_stream(session, url, m, until, sent)) for m in starts]
        await asyncio.sleep(1.0)  # all streams connected and running
        cpu0, wall0, sent0 = cpu_seconds(pid), time.monotonic(), sent[0]
        await asyncio.sleep(seconds)
        cpu1, wall1, sent1 = cpu_seconds(pid), time.monotonic(), sent[0]
        await asyncio.gather(*tasks)
    return cpu1 - cpu0, sent1 - sent0, wall1 - wall0


def _row(name: str, cpu: float, frames: int, wall: float, streams: int) -> tuple[str, float]:
    per_stream = 100 * cpu / wall / streams
    expected = streams * wall / FRAME_SECONDS
    print(
        f"{name:<12}{per_stream:12.3f}{100 / per_stream if per_stream else 0:14.0f}"
        f"{frames / wall:12.0f}{100 * frames / expected:10.1f}"
    )
    return name, per_stream


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        async with embedded_redis(Path(scratch), persist=False) as redis_url:
            port, base_port = free_port(), free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
            env.update(
                CALLCENTER_LOG_LEVEL="WARNING",
                CALLCENTER_TWILIO_ACCOUNT_SID=ACCOUNT,
                CALLCENTER_TWILIO_AUTH_TOKEN=TOKEN,
                CALLCENTER_PUBLIC_URL=f"http://127.0.0.1:{port}",
            )
            ours_spec = serve(port, redis_url=redis_url, environ=env, name="callcenter")
            base_spec = ServerSpec(
                command=(sys.executable, SCRIPT, "--baseline", str(base_port)),
                port=base_port,
                ready_path="/healthz",
                name="baseline",
            )
            async with running_server(ours_spec) as ours, running_server(base_spec) as base:
                # before both windows: the server has routed the calls (no agents: they
                # wait in the queue) by the time its own window opens
                parameters = await place_calls(ours.url, args.streams)
                starts = [_messages(i, p) for i, p in enumerate(parameters)]
                results = []
                for name, url, pid in (
                    ("baseline", f"{base.url}/media/twilio", base.process.pid),
                    ("callcenter", f"{ours.url}/media/twilio", ours.process.pid),
                ):
                    results.append((name, *await measure(url, pid, starts, args.seconds)))
                print(f"\n{args.streams} streams x 50 frames/s, {args.seconds:.0f} s measured")
                print(
                    f"{'server':<12}{'% core/str':>12}{'streams/core':>14}{'frames/s':>12}"
                    f"{'% sent':>10}"
                )
                rows = dict(_row(n, c, f, w, args.streams) for n, c, f, w in results)
                extra = rows["callcenter"] - rows["baseline"]
                print(
                    f"\ncallcenter ingest: {rows['callcenter']:.3f} % of a core per stream "
                    f"(target <= 1 %); {extra:.3f} % more than the bare websocket server; "
                    f"ratio {rows['callcenter'] / rows['baseline']:.1f}x"
                )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--baseline", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        return serve_baseline(args.baseline)
    with asyncio.Runner(loop_factory=lambda: new_event_loop("uvloop")) as runner:
        return runner.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
