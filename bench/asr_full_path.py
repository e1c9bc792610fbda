"""The full path of bench/asr.py, and what both of its paths share (the stream schedule, the
trial record): our app on a real aiohttp server and redis-server, fed Twilio Media Streams
websockets by a client process, its results read from the event bus and its metrics. Each
stream belongs to a Twilio call the trial creates through the signed voice webhook before
its measured window (the stream's `start` carries the parameters of that call's TwiML) and
ends with a status callback after it; a trial in which the app refused a stream fails."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import multiprocessing
import os
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import aiohttp
import msgspec
from aiohttp import web
from prometheus_client import Counter, Gauge, Histogram

from callcenter.app import create_app
from callcenter.app_keys import REDIS
from callcenter.cli import new_event_loop
from callcenter.gateways.twilio.signature import expected_signature
from callcenter.media.codecs import pcm16_to_ulaw
from callcenter.media.frames import AudioFrame, Track
from callcenter.services.bus import BusEvent, Delivered, EventBus
from callcenter.settings import Secret, Settings
from callcenter.simulate.twilio_gateway import stream_target
from callcenter.storage.embedded import embedded_redis, free_port
from callcenter.web.state import BUS, MEDIA, METRICS, MONITOR

FRAME_S = 0.02
MAX_P95_LAG_S = 0.5
START_SPREAD_S = 2.0
WARM_UP_S = 4.0  # lags count from here: a new recogniser's first second costs ~0.6 s of CPU
CLIENT_LEAD_S = 1.0  # from handing a trial to the client process to its first frame
TAIL_S = 2.0  # utterances ending this close to a trial's end may get no final in it
MATCH_S = 1.0  # a final ends an utterance when its last word ends this close to the speech
IDLE_TIMEOUT_S = 60.0
ACCOUNT = "AC" + "b" * 32
TOKEN = "bench-twilio-token"
SETTLE_S = 0.5  # for the timer loop (every 0.2 s) to dispatch calls just created or ended
MARKER = "bench.marker"


class Marker(BusEvent, frozen=True, tag=MARKER):
    """Published last: the bus delivers in order, so every earlier event has arrived."""


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def start_tick(stream: int, streams: int) -> int:
    """The 20 ms tick at which stream `stream` of `streams` starts (spread over 2 s)."""
    return round(stream * START_SPREAD_S / FRAME_S / streams)


def stream_seconds(streams: int, seconds: float) -> float:
    """Seconds of audio sent by `streams` staggered streams in a trial of `seconds`."""
    return sum(seconds - start_tick(k, streams) * FRAME_S for k in range(streams))


def machine_cpu_s() -> float:
    """CPU seconds every process on the machine has used (/proc/stat, all CPUs, not idle)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Trial:
    streams: int
    p95_lag_s: float
    dropped: int
    cpu_per_stream: float  # CPU seconds of the measured process per second of stream audio
    final_latencies_s: tuple[float, ...] = ()  # end of speech -> its transcript.final
    finals_missing: int = 0  # utterances (after the warm-up) that got no transcript.final
    p95_ingest_s: float | None = None  # full path: frame due at the client -> media hub
    redis_cpu_per_stream: float = 0.0
    client_cpu_per_stream: float = 0.0
    others_cpus: float = math.nan  # CPUs other processes kept busy meanwhile, on average

    @property
    def sustained(self) -> bool:
        return self.dropped == 0 and self.p95_lag_s <= MAX_P95_LAG_S


# The clients: Twilio's side, in a process of their own


@dataclass(frozen=True, slots=True)
class ClientPlan:
    url: str
    call_ids: tuple[str, ...]
    parameters: tuple[dict[str, str], ...]  # per stream: customParameters, from its TwiML
    payloads: tuple[str, ...]  # base64 mu-law, one per 20 ms frame of the audio loop
    speech_end_frame: int
    seconds: float
    t0: float  # time.monotonic() of tick 0 (the clock is system-wide: same in both processes)


@dataclass(frozen=True, slots=True)
class ClientReport:
    # per stream: (second of the leg's audio where the speech ended, when that frame went)
    speech_ends: tuple[tuple[tuple[float, float], ...], ...]
    cpu_s: float


def clients_ready() -> bool:
    """Run first in the client process, so the trials do not pay for its start-up."""
    return True


def run_clients(plan: ClientPlan) -> ClientReport:
    """In the client process: every stream of `plan` in real time; what was sent when."""
    cpu = time.process_time()
    with asyncio.Runner(loop_factory=lambda: new_event_loop("uvloop")) as runner:
        ends = runner.run(_send_all(plan))
    return ClientReport(tuple(ends), time.process_time() - cpu)


async def _send_all(plan: ClientPlan) -> list[tuple[tuple[float, float], ...]]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        streams = len(plan.call_ids)
        return await asyncio.gather(*(_stream(session, plan, k, streams) for k in range(streams)))


async def _stream(
    session: aiohttp.ClientSession, plan: ClientPlan, k: int, streams: int
) -> tuple[tuple[float, float], ...]:
    call_sid = plan.call_ids[k]
    stream_sid = "MZ" + call_sid[2:]
    first = start_tick(k, streams)
    count = len(plan.payloads)
    offset = k * count // streams
    ends: list[tuple[float, float]] = []
    await asyncio.sleep(max(0.0, plan.t0 + first * FRAME_S - time.monotonic()))
    headers = {"X-Twilio-Signature": expected_signature(TOKEN, plan.url, {})}
    ticks = range(first, round(plan.seconds / FRAME_S))
    async with session.ws_connect(plan.url, headers=headers) as ws:
        await ws.send_str('{"event":"connected","protocol":"Call","version":"1.0.0"}')
        await ws.send_str(_start_message(call_sid, stream_sid, plan.parameters[k]))
        for tick in ticks:
            delay = plan.t0 + tick * FRAME_S - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            step = tick - first
            index = (offset + step) % count
            await ws.send_str(
                f'{{"event":"media","sequenceNumber":"{step + 2}","streamSid":"{stream_sid}",'
                f'"media":{{"track":"inbound","chunk":"{step + 1}","timestamp":"{step * 20}",'
                f'"payload":"{plan.payloads[index]}"}}}}'
            )
            if index == plan.speech_end_frame:
                ends.append(((step + 1) * FRAME_S, time.monotonic()))
        await ws.send_str(_stop_message(call_sid, stream_sid, len(ticks) + 2))
    return tuple(ends)


def _start_message(call_sid: str, stream_sid: str, parameters: dict[str, str]) -> str:
    start = {
        "streamSid": stream_sid,
        "accountSid": ACCOUNT,
        "callSid": call_sid,
        "tracks": ["inbound"],
        "customParameters": parameters,
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    message = {"event": "start", "sequenceNumber": "1", "streamSid": stream_sid, "start": start}
    return json.dumps(message)


def _stop_message(call_sid: str, stream_sid: str, sequence: int) -> str:
    stop = {"accountSid": ACCOUNT, "callSid": call_sid}
    message = {"event": "stop", "sequenceNumber": str(sequence), "streamSid": stream_sid}
    return json.dumps(message | {"stop": stop})


# Twilio's webhooks: the calls the streams belong to


def _call_form(call_sid: str, caller: str, status: str) -> dict[str, str]:
    """The voice webhook's form (`ringing`) or a status callback's (an end such as
    `completed`) for an inbound call."""
    form = {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": status,
        "Direction": "inbound",
        "From": caller,
        "To": "+15559870000",
    }
    if status != "ringing":
        form |= {"CallbackSource": "call-progress-events", "SequenceNumber": "1"}
    return form


async def _signed_posts(url: str, forms: Iterable[dict[str, str]]) -> list[str]:
    """Each form posted to `url` as Twilio posts it (X-Twilio-Signature); the answers.
    Raises RuntimeError for an answer that is not 2xx."""

    async def post(session: aiohttp.ClientSession, form: dict[str, str]) -> str:
        headers = {"X-Twilio-Signature": expected_signature(TOKEN, url, form)}
        async with session.post(url, data=form, headers=headers) as answer:
            text = await answer.text()
        if answer.status >= 300:
            raise RuntimeError(f"{url} answered {form['CallSid']} with {answer.status}: {text}")
        return text

    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(post(session, form) for form in forms))


def _stream_parameters(twiml: str) -> dict[str, str]:
    """The customParameters Twilio gives the stream a voice webhook's TwiML starts."""
    target = stream_target(twiml)
    if target is None:
        raise RuntimeError(f"the voice webhook's TwiML starts no stream: {twiml}")
    return target.parameters


# The server side: what the app does with the streams


class _IngestProbe:
    """A media hub listener: how late each frame reaches the hub against its due time."""

    def __init__(self) -> None:
        self.leg_start: dict[str, float] = {}  # call id -> due time of its first frame
        self.frames: dict[str, int] = {}
        self.count_from = math.inf
        self.delays: list[float] = []

    def expect(self, leg_start: dict[str, float], count_from: float) -> None:
        self.leg_start, self.frames, self.count_from, self.delays = leg_start, {}, count_from, []

    def open_leg(self, call_id: str, track: Track, sample_rate: int) -> None:
        self.frames[call_id] = 0

    def frame(self, frame: AudioFrame) -> None:
        start = self.leg_start.get(frame.call_id)
        if start is None:
            return
        index = self.frames.get(frame.call_id, 0)
        self.frames[frame.call_id] = index + 1
        due = start + index * FRAME_S
        if due >= self.count_from:
            self.delays.append(time.monotonic() - due)

    def close_leg(self, call_id: str, track: Track) -> None:
        pass


class _FinalData(msgspec.Struct):
    end_s: float


class _FinalEvent(msgspec.Struct):
    data: _FinalData


_FINAL = msgspec.json.Decoder(_FinalEvent)


@dataclass(slots=True)
class _BusWatch:
    """Every transcript.final on the bus, as it arrives: call id -> [(arrived, end_s)]."""

    finals: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    marker: asyncio.Event = field(default_factory=asyncio.Event)

    def _deliver(self, header: Delivered, raw: str) -> None:
        if header.type == "transcript.final" and header.call_id is not None:
            arrived = time.monotonic()
            end_s = _FINAL.decode(raw).data.end_s
            self.finals.setdefault(header.call_id, []).append((arrived, end_s))
        elif header.type == MARKER:
            self.marker.set()

    async def run(self, bus: EventBus) -> None:
        """Follow the bus until cancelled."""
        unsubscribe = bus.subscribe(self._deliver, start_over=lambda: None)
        try:
            await asyncio.Event().wait()
        finally:
            unsubscribe()
            self.marker.set()  # whoever waits for a marker: the watch is over


def _value(metric: Counter | Gauge) -> float:
    """A counter's count or a gauge's value (not a counter's `_created` timestamp)."""
    return sum(
        sample.value
        for family in metric.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    )


def _buckets(histogram: Histogram) -> list[tuple[float, float]]:
    """(upper bound, cumulative count) of each bucket, +Inf last."""
    return [
        (float(sample.labels["le"]), sample.value)
        for family in histogram.collect()
        for sample in family.samples
        if sample.name.endswith("_bucket")
    ]


def histogram_quantile(
    before: list[tuple[float, float]], after: list[tuple[float, float]], fraction: float
) -> float:
    """The quantile of what was observed between two snapshots, interpolated within its
    bucket as Prometheus does (exact at bucket bounds); inf beyond the last finite one."""
    counts = [
        (bound, late - early) for (bound, early), (_, late) in zip(before, after, strict=True)
    ]
    total = counts[-1][1] if counts else 0.0
    if total <= 0:
        return math.nan
    rank, lower, below = fraction * total, 0.0, 0.0
    for bound, cumulative in counts:
        if cumulative >= rank:
            if math.isinf(bound):
                return math.inf
            return lower + (bound - lower) * (rank - below) / (cumulative - below)
        lower, below = bound, cumulative
    return math.inf


class FullPath:
    """Trials of N real-time Twilio streams through the running app (`full_path()`)."""

    def __init__(
        self, app: web.Application, base_url: str, payloads: tuple[str, ...], end: int
    ) -> None:
        self._app = app
        self._base_url = base_url
        self._payloads = payloads
        self._speech_end_frame = end
        self._probe = _IngestProbe()
        self._watch = _BusWatch()
        self._watching: asyncio.Task[None] | None = None
        self._clients = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self._trials = 0

    async def __aenter__(self) -> FullPath:
        try:
            await asyncio.wrap_future(self._clients.submit(clients_ready))
        except BaseException:
            self._clients.shutdown(wait=False, cancel_futures=True)
            raise
        self._app[MEDIA].listeners.append(self._probe)
        self._watching = asyncio.create_task(self._watch.run(self._app[BUS]), name="bench-bus")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._app[MEDIA].listeners.remove(self._probe)
        if self._watching is not None:
            self._watching.cancel()
            with suppress(asyncio.CancelledError):
                await self._watching
        await asyncio.to_thread(self._clients.shutdown, wait=True)

    async def trial(self, streams: int, seconds: float) -> Trial:
        self._trials += 1
        ids = tuple(f"CA{self._trials:016x}{k:016x}" for k in range(streams))
        # a caller each, new to the app: no caller history to steer routing
        callers = tuple(f"+1555{self._trials:03d}{k:04d}" for k in range(streams))
        parameters = await self._place_calls(ids, callers)
        t0 = time.monotonic() + CLIENT_LEAD_S
        plan = ClientPlan(
            self._base_url + "/media/twilio",
            ids,
            parameters,
            self._payloads,
            self._speech_end_frame,
            seconds,
            t0,
        )
        self._probe.expect(
            {ids[k]: t0 + start_tick(k, streams) * FRAME_S for k in range(streams)},
            t0 + WARM_UP_S,
        )
        metrics = self._app[METRICS]
        dropped = _value(metrics.asr_dropped_frames_total)
        refused = _value(metrics.media_rejections_total)
        cpu, redis_cpu = time.process_time(), await self._redis_cpu()
        machine, began = machine_cpu_s(), time.monotonic()
        sending = asyncio.wrap_future(self._clients.submit(run_clients, plan))
        await asyncio.sleep(max(0.0, t0 + WARM_UP_S - time.monotonic()))
        lags_from = _buckets(metrics.asr_lag_seconds)
        report = await sending
        cpu, redis_cpu = time.process_time() - cpu, await self._redis_cpu() - redis_cpu
        others = machine_cpu_s() - machine - cpu - redis_cpu - report.cpu_s
        others /= time.monotonic() - began
        await self._idle()
        refused = _value(metrics.media_rejections_total) - refused
        if refused:
            raise RuntimeError(f"the app refused {refused:.0f} of {streams} streams")
        pool_lag = histogram_quantile(lags_from, _buckets(metrics.asr_lag_seconds), 0.95)
        ingest = percentile(self._probe.delays, 0.95)
        latencies, missing = self._final_latencies(
            ids, report, t0 + WARM_UP_S, t0 + seconds - TAIL_S
        )
        audio_s = stream_seconds(streams, seconds)
        result = Trial(
            streams,
            ingest + pool_lag,
            round(_value(metrics.asr_dropped_frames_total) - dropped),
            cpu / audio_s,
            tuple(latencies),
            missing,
            ingest,
            redis_cpu / audio_s,
            report.cpu_s / audio_s,
            others,
        )
        await self._end_calls(ids, callers)
        return result

    async def _place_calls(
        self, ids: Sequence[str], callers: Sequence[str]
    ) -> tuple[dict[str, str], ...]:
        """The calls, created through the voice webhook (Twilio's dialect; with no agents
        they wait in the queue); each stream's customParameters, binding it to its call."""
        url = self._base_url + "/gateways/twilio/voice"
        forms = (_call_form(i, c, "ringing") for i, c in zip(ids, callers, strict=True))
        answers = await _signed_posts(url, forms)
        await asyncio.sleep(SETTLE_S)
        return tuple(_stream_parameters(twiml) for twiml in answers)

    async def _end_calls(self, ids: Sequence[str], callers: Sequence[str]) -> None:
        """The callers hang up (status callbacks), so the app is idle between trials."""
        url = self._base_url + "/gateways/twilio/status"
        await _signed_posts(
            url, (_call_form(i, c, "completed") for i, c in zip(ids, callers, strict=True))
        )
        await self._app[MONITOR].drain()
        await asyncio.sleep(SETTLE_S)

    def _final_latencies(
        self, ids: Iterable[str], report: ClientReport, count_from: float, count_until: float
    ) -> tuple[list[float], int]:
        """End of speech -> its transcript.final on the bus, for the utterances whose speech
        ended between `count_from` and `count_until`; and how many of them had none."""
        latencies: list[float] = []
        missing = 0
        for call_id, ends in zip(ids, report.speech_ends, strict=True):
            finals = self._watch.finals.pop(call_id, [])
            for speech_end_s, sent in ends:
                if not count_from <= sent <= count_until:
                    continue
                near = [(abs(end_s - speech_end_s), at) for at, end_s in finals]
                match = min((m for m in near if m[0] <= MATCH_S), default=None)
                if match is None:
                    missing += 1
                else:
                    latencies.append(match[1] - sent)
        return latencies, missing

    async def _idle(self) -> None:
        """Wait until every leg is transcribed and its events are delivered on the bus."""
        deadline = time.monotonic() + IDLE_TIMEOUT_S
        while _value(self._app[METRICS].asr_streams_active) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError("the transcription pool did not finish its legs")
            await asyncio.sleep(0.05)
        await self._app[MONITOR].drain()
        # the bus delivers in order: once this arrives, every earlier event has
        self._watch.marker.clear()
        await self._app[BUS].publish(Marker())
        await asyncio.wait_for(self._watch.marker.wait(), IDLE_TIMEOUT_S)
        if self._watching is not None and self._watching.done():
            self._watching.result()  # raises what ended the watch

    async def _redis_cpu(self) -> float:
        """CPU seconds redis-server has used (INFO cpu: used_cpu_sys + used_cpu_user)."""
        info = await self._app[REDIS].execute("INFO", "cpu")
        text = info.decode() if isinstance(info, bytes) else str(info)
        return sum(
            float(line.split(":", 1)[1])
            for line in text.splitlines()
            if line.startswith(("used_cpu_sys:", "used_cpu_user:"))
        )


@asynccontextmanager
async def full_path(
    model_dir: Path,
    frames: tuple[bytes, ...],
    speech_end_frame: int,
    *,
    scratch: Path,
    rules_dir: Path | None,
    queue_frames: int,
) -> AsyncIterator[FullPath]:
    """A redis-server, the app (Vosk on `model_dir`, one ASR worker per CPU) on 127.0.0.1,
    and the client process, ready for trials of the 8 kHz PCM16 loop `frames`."""
    async with embedded_redis(scratch / "redis", persist=False) as redis_url:
        port = free_port()
        settings = Settings(
            port=port,
            redis_url=redis_url,
            data_dir=scratch,
            rules_dir=rules_dir,
            speech_engine="vosk",
            vosk_model_dir=model_dir,
            asr_workers=0,
            asr_queue_frames=queue_frames,
            twilio_account_sid=ACCOUNT,
            twilio_auth_token=Secret(TOKEN),
            public_url=f"http://127.0.0.1:{port}",
        )
        app = create_app(settings)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
            payloads = tuple(base64.b64encode(pcm16_to_ulaw(pcm)).decode() for pcm in frames)
            base_url = f"http://127.0.0.1:{port}"
            async with FullPath(app, base_url, payloads, speech_end_frame) as bench:
                yield bench
        finally:
            await runner.cleanup()
