"""The event bus: what happens on any instance, seen by the live pages on every instance.

Producers `publish` (or `publish_soon` from a callback); every event gets the next
sequence number in Redis and reaches every instance's subscription. Each instance turns
its subscription into one gapless, duplicate-free, ordered stream (a gap, or a lost
subscription, is filled from the bus log) and hands it to its subscribers (the live hub),
which must take each event at once: the bus never blocks on them.

Sequence numbers only compare within an epoch. When the bus starts a new one (Redis
flushed, restored from an older file, failed over to a replica that lagged), every
subscriber is told to start over from a snapshot and follows the new epoch: a rewind is
counted, never a reason to skip events."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime

import msgspec

from callcenter.errors import StorageUnavailable
from callcenter.metrics import Metrics
from callcenter.services.clock import Clock
from callcenter.services.task_failures import log_failure
from callcenter.storage.bus import BusRepository, Subscribed

logger = logging.getLogger(__name__)

CATCH_UP_BATCH = 1_000
RETIRED_EPOCHS = 8


class BusEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type"):
    """An event as it travels: the kinds are subclasses tagged with their `type` (see
    `live_events.py`), each with its own `data`. The bus stamps `at`; the routing fields say
    who may see it; `seq` and `epoch` are set in Redis (publishers leave them out)."""

    at: datetime | None = None
    seq: int = 0
    epoch: str = ""
    call_id: str | None = None
    agent_id: str | None = None
    queue: str | None = None


def kind_of(event: BusEvent) -> str:
    """The event's `type` tag."""
    return tag_of(type(event))


def tag_of(kind: type[BusEvent]) -> str:
    """The `type` tag of a kind of event."""
    return str(kind.__struct_config__.tag)


class Delivered(msgspec.Struct, frozen=True, kw_only=True):
    """What a listener receives with each message: its routing fields. The message itself
    comes as published, as text (to forward without encoding it again)."""

    seq: int
    type: str
    epoch: str = ""
    call_id: str | None = None
    agent_id: str | None = None
    queue: str | None = None


_ENCODER = msgspec.json.Encoder()
_HEADER = msgspec.json.Decoder(Delivered)


Subscriber = Callable[[Delivered, str], None]


class EventBus:
    def __init__(self, repository: BusRepository, *, clock: Clock, metrics: Metrics) -> None:
        self._repository = repository
        self._clock = clock
        self._metrics = metrics
        self._subscribers: list[Subscriber] = []
        self._pending: set[asyncio.Task[None]] = set()
        self._batch: list[tuple[str, bytes]] = []  # publish_soon's events for this turn
        self._restarts: list[Callable[[], None]] = []
        self._epoch = ""  # the epoch of the events handed to listeners
        self._last_seq = 0  # the last sequence number handed to listeners
        self._positioned = False  # _epoch and _last_seq were read from the bus
        self._retired: deque[str] = deque(maxlen=RETIRED_EPOCHS)  # epochs left behind
        self._ready = asyncio.Event()

    # Publishing

    async def publish(self, event: BusEvent) -> int:
        """Publish one event; its sequence number. Raises StorageUnavailable."""
        position = await self._repository.publish(self._encode(event))
        self._metrics.bus_events_total.labels(kind_of(event)).inc()
        return position.seq

    def publish_soon(self, event: BusEvent) -> None:
        """Publish from synchronous code (on the loop). Events published this way in one
        turn of the loop go out together, in order, in one Redis call; a failure is logged
        and counted."""
        self._batch.append((kind_of(event), self._encode(event)))
        if len(self._batch) == 1:
            task = asyncio.get_running_loop().create_task(self._publish_batch())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def _encode(self, event: BusEvent) -> bytes:
        return _ENCODER.encode(msgspec.structs.replace(event, at=self._clock.now()))

    async def _publish_batch(self) -> None:
        await asyncio.sleep(0)  # let the rest of this turn's events join the batch
        batch, self._batch = self._batch, []
        try:
            await self._repository.publish_many([body for _, body in batch])
        except Exception:
            # task boundary: the events are lost to the live pages, the calls go on
            log_failure(logger, "%d bus events not published", len(batch))
            self._metrics.task_errors_total.labels("bus_publish").inc()
            return
        for kind, _ in batch:
            self._metrics.bus_events_total.labels(kind).inc()

    async def drain(self) -> None:
        """Wait for the events `publish_soon` has in flight."""
        await asyncio.gather(*self._pending, return_exceptions=True)

    # Listening

    def subscribe(
        self, subscriber: Subscriber, *, start_over: Callable[[], None]
    ) -> Callable[[], None]:
        """Call `subscriber(header, text)` with every event delivered from now on, on the
        loop, in order, and `start_over()` when the bus starts a new epoch (what the
        subscriber holds must be rebuilt from a snapshot; the new epoch's events follow).
        Both must return at once. Returns the function that unsubscribes."""
        self._subscribers.append(subscriber)
        self._restarts.append(start_over)

        def unsubscribe() -> None:
            self._subscribers.remove(subscriber)
            self._restarts.remove(start_over)

        return unsubscribe

    @property
    def last_seq(self) -> int | None:
        """The last sequence number handed to listeners (None until the bus was reached)."""
        return self._last_seq if self._positioned else None

    @property
    def epoch(self) -> str:
        """The epoch of the events handed to listeners ("" before the bus's first event)."""
        return self._epoch

    async def wait_ready(self) -> None:
        """Return once the subscription is up (events published after this are seen)."""
        await self._ready.wait()

    async def since(self, seq: int, limit: int) -> list[bytes]:
        """Logged events after `seq` (for a client resuming from its last sequence)."""
        return await self._repository.since(seq, limit)

    async def oldest_seq(self) -> int | None:
        return await self._repository.oldest_seq()

    async def run(self) -> None:
        """Receive the bus until cancelled: the instance's subscription."""
        async for item in self._repository.subscribe():
            if isinstance(item, Subscribed):
                await self._resume()
                self._ready.set()
                continue
            try:
                header = _HEADER.decode(item)
            except msgspec.DecodeError:
                logger.warning("event bus: undecodable message dropped")
                continue
            if not self._positioned:  # the position could not be read: start from here
                self._epoch, self._last_seq = header.epoch, header.seq - 1
                self._positioned = True
            if header.epoch != self._epoch:
                await self._other_epoch(header.epoch)
                continue  # delivered by the catch-up, if it belongs to the current epoch
            if header.seq <= self._last_seq:
                continue  # delivered already (by a catch-up)
            if header.seq > self._last_seq + 1:
                await self._catch_up()
                if header.seq <= self._last_seq:
                    continue
            self._deliver(header, item)

    async def _resume(self) -> None:
        """The subscription is (back) up: find where the bus is, and catch up or start
        over. A sequence behind the last one delivered, in the same epoch, can only be
        told here: a restore or a failover drops the subscription."""
        try:
            position = await self._repository.position()
        except StorageUnavailable as error:
            logger.warning("event bus: could not read the bus position: %s", error)
            return
        if not self._positioned:
            self._epoch, self._last_seq = position.epoch, position.seq
            self._positioned = True
            return
        if position.epoch == self._epoch and position.seq >= self._last_seq:
            await self._catch_up()
            return
        if position.epoch == self._epoch or position.epoch in self._retired:
            position = await self._repository.new_epoch(position.epoch)
        await self._start_over(position.epoch)

    async def _other_epoch(self, epoch: str) -> None:
        if epoch in self._retired:
            return  # published before the change we already followed
        if not self._epoch and not self._last_seq:
            self._epoch = epoch  # the bus's very first epoch: nothing to start over
            await self._catch_up()
            return
        await self._start_over(epoch)

    async def _start_over(self, epoch: str) -> None:
        """The bus numbers events again from a new epoch: everything local starts over
        from a snapshot, then follows the new epoch from its start."""
        logger.warning(
            "event bus: the sequence went back (epoch %r at %s, now %r); live pages resync",
            self._epoch,
            self._last_seq,
            epoch,
        )
        self._metrics.bus_rewinds_total.inc()
        if self._epoch:
            self._retired.append(self._epoch)
        self._epoch, self._last_seq = epoch, 0
        for restart in tuple(self._restarts):
            restart()
        await self._catch_up()

    async def _catch_up(self) -> None:
        """Deliver from the log what the subscription missed (of the current epoch)."""
        try:
            while True:
                missed = await self._repository.since(self._last_seq, CATCH_UP_BATCH)
                for raw in missed:
                    header = _HEADER.decode(raw)
                    if header.epoch != self._epoch:
                        return  # the epoch changed again: its first live event says so
                    self._deliver(header, raw)
                if len(missed) < CATCH_UP_BATCH:
                    return
        except StorageUnavailable as error:
            logger.warning("event bus: could not read missed events: %s", error)

    def _deliver(self, header: Delivered, raw: bytes) -> None:
        self._last_seq = header.seq
        text = raw.decode()  # once for every listener (websockets send text frames)
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(header, text)
            except Exception:  # one subscriber's bug must not stop the bus
                logger.exception("bus subscriber failed on %s", header.type)
