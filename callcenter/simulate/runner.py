"""One simulation run against a server: register the agents and start their bots, place
the planned calls through the gateway at their times, let callers wait (give up, or take
a callback: simulate.callback_calls), talk and hang up, open the planned text
conversations (simulate.text_customers), then check the server's documents and metrics
against what we saw.

Setting `stop` (Ctrl-C) stops the arrivals, hangs up every call and closes every
conversation in progress, so the summary that follows covers a consistent, shorter run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import aiohttp

from callcenter.errors import CallcenterError
from callcenter.simulate.agents import AgentBot
from callcenter.simulate.alerts_feed import AlertsFeed
from callcenter.simulate.api import ServerApi, ServerRefused, ServerUnreachable
from callcenter.simulate.asterisk_gateway import AsteriskGateway
from callcenter.simulate.callback_calls import CallbackCalls
from callcenter.simulate.clips import Clip, shipped_clips
from callcenter.simulate.conversations import Conversations
from callcenter.simulate.freeswitch_gateway import FreeswitchGateway
from callcenter.simulate.gateway_choice import Gateway, start_gateway
from callcenter.simulate.generic_gateway import GenericGateway
from callcenter.simulate.ledger import CallRecord, Ledger, Outcome
from callcenter.simulate.metrics_check import Sample
from callcenter.simulate.run_result import RunFailed as RunFailed
from callcenter.simulate.run_result import RunOptions as RunOptions
from callcenter.simulate.run_result import RunResult as RunResult
from callcenter.simulate.scenario import Scenario
from callcenter.simulate.switchboard import Switchboard
from callcenter.simulate.text_customers import TextCustomers
from callcenter.simulate.traffic import CallPlan, plan_calls
from callcenter.simulate.twilio_gateway import TwilioGateway
from callcenter.simulate.verify import check_run
from callcenter.simulate.wait_estimates import read_arrival_estimate

logger = logging.getLogger(__name__)

READY_SECONDS = 15.0  # for the agents' and wallboard's sockets
SILENT_GATEWAYS = (AsteriskGateway, FreeswitchGateway)  # their audio comes by the PBX's means
DIAL_SECONDS = 5.0  # an accepted offer must reach the gateway (Twilio <Dial>) by then


class Simulation:
    def __init__(
        self,
        scenario: Scenario,
        options: RunOptions,
        *,
        report: Callable[[str], None] = lambda line: None,
        progress: Callable[[float, Ledger], None] = lambda elapsed, ledger: None,
        on_ready: Callable[[Simulation, ServerApi], Awaitable[None]] | None = None,
    ) -> None:
        self.scenario = scenario
        self.options = options
        self.ledger = Ledger()
        self._report = report
        self._progress = progress
        self._on_ready = on_ready
        self._plan: Iterator[CallPlan] = iter(())
        self._api: ServerApi | None = None
        self._clips: dict[str, list[Clip]] = {}
        self._stop = asyncio.Event()
        self.switchboard = Switchboard(self.ledger, clock=self.now)
        self._calls: set[asyncio.Task[None]] = set()
        self._chores: set[asyncio.Task[None]] = set()
        self._fatal: CallcenterError | None = None
        self._warned_no_dial = False
        self._t0 = 0.0
        self.bots: list[AgentBot] = []
        self._bots: dict[str, AgentBot] = {}
        self.agent_tokens: dict[str, str] = {}
        self.gateway: Gateway | None = None
        self._callbacks: CallbackCalls | None = None
        self._texts: TextCustomers | None = None
        self._conversations = Conversations(clock=self.now)

    def now(self) -> float:
        return asyncio.get_running_loop().time() - self._t0

    # --- the run ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> RunResult:
        """Raises ServerUnreachable, ServerRefused or RunFailed when the run cannot start
        or the server stops answering; otherwise returns what happened."""
        result = RunResult(self.scenario, self.ledger)
        if self.options.speech:
            self._clips = await asyncio.to_thread(shipped_clips)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            api = ServerApi(
                session, self.options.server_url, self.options.token, report=self._report
            )
            await api.wait_ready(self.options.connect_timeout_seconds)
            background: list[asyncio.Task[None]] = []
            try:
                await self._setup(api, session, background)
                if self._on_ready is not None:
                    await self._on_ready(self, api)
                before = result.metrics_before = Sample.parse(await api.metrics())
                self._t0 = asyncio.get_running_loop().time()
                background.append(asyncio.create_task(self._show_progress()))
                background.append(asyncio.create_task(self._watch(stop)))
                placing = [self._place_calls(), *([self._texts.place()] if self._texts else [])]
                await asyncio.gather(*placing)
                await self._drain()
                result.interrupted = stop.is_set()
                result.elapsed = self.now()
                if self._fatal is not None:
                    raise self._fatal
                await self._settle()
                twilio = isinstance(self.gateway, TwilioGateway)
                await check_run(api, result, before=before, twilio=twilio)
            finally:
                result.elapsed = result.elapsed or self.now()
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
                await asyncio.gather(*(bot.log_off() for bot in self.bots))
                if self.gateway is not None:
                    await self.gateway.stop()
        return result

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._stop.set()

    async def _setup(
        self, api: ServerApi, session: aiohttp.ClientSession, background: list[asyncio.Task[None]]
    ) -> None:
        scenario, options = self.scenario, self.options
        run_id = uuid.uuid4().hex[:12]
        self._plan = plan_calls(scenario, run_id)
        for agent in scenario.roster:
            await api.put_agent(agent.id, agent.name, agent.skills, agent.capacity)
            self.agent_tokens[agent.id] = await api.issue_token(
                f"agent:{agent.id}", f"simulator {run_id}"
            )
        if scenario.gateway == "twilio":
            self._callbacks = CallbackCalls(
                self.ledger,
                self.switchboard,
                api,
                clock=self.now,
                pause=self._sleep,
                spawn=lambda work: self._spawn(work, self._chores),
                hung_up=self._hung_up,
            )
        self.gateway = await start_gateway(
            scenario.gateway,
            options,
            session,
            self.ledger,
            api=api,
            run_id=run_id,
            clock=self.now,
            on_connect=self._connect,
            callbacks=self._callbacks,
        )
        if scenario.text is not None:
            self._texts = TextCustomers(
                scenario,
                self.ledger,
                api,
                self._conversations,
                token=await api.issue_token("gateway", f"simulator {run_id} texts"),
                clock=self.now,
                pause=self._sleep,
                spawn=lambda work: self._spawn(work, self._calls),
                fatal=self._fail,
            )
        feed = AlertsFeed(api, self.ledger, token=options.token)
        background.append(asyncio.create_task(feed.run()))
        for agent in scenario.roster:
            bot = AgentBot(
                agent,
                self.agent_tokens[agent.id],
                api,
                self.ledger,
                on_accepted=self._accepted,
                clock=self.now,
                conversations=self._conversations,
            )
            self.bots.append(bot)
            self._bots[agent.id] = bot
            background.append(asyncio.create_task(bot.run()))
        ready = [feed.connected.wait(), *(bot.connected.wait() for bot in self.bots)]
        try:
            await asyncio.wait_for(asyncio.gather(*ready), READY_SECONDS)
        except TimeoutError:
            raise RunFailed(
                f"the agents' and wallboard's websockets did not open within {READY_SECONDS:g} s"
            ) from None
        self._api = api

    async def _show_progress(self) -> None:
        while True:
            self._progress(self.now(), self.ledger)
            await asyncio.sleep(1.0)

    async def _place_calls(self) -> None:
        for plan in self._plan:
            if not await self._sleep(plan.at_seconds - self.now()):
                return
            record = self.ledger.add(plan)
            self._spawn(self._call(record), self._calls)

    async def _sleep(self, seconds: float, *events: asyncio.Event) -> bool:
        """Wait `seconds` or until one of `events` is set; False when the run is stopping."""
        waiters = [asyncio.ensure_future(e.wait()) for e in (self._stop, *events)]
        try:
            await asyncio.wait(waiters, timeout=max(0.0, seconds), return_when="FIRST_COMPLETED")
        finally:
            for waiter in waiters:
                waiter.cancel()
        return not self._stop.is_set()

    def _spawn(self, work: Coroutine[Any, Any, None], into: set[asyncio.Task[None]]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        into.add(task)
        task.add_done_callback(into.discard)

    async def _drain(self) -> None:
        if self._calls and not self._stop.is_set():
            self._report(
                f"arrivals over; waiting up to {self.options.drain_seconds:g} s for "
                f"{len(self._calls)} calls and conversations still going on"
            )
            await asyncio.wait(set(self._calls), timeout=self.options.drain_seconds)
            if self._calls:
                self._report(f"ending {len(self._calls)} calls and conversations still going on")
                self.ledger.failures.append(
                    f"{len(self._calls)} calls and conversations still going on "
                    f"{self.options.drain_seconds:g} s "
                    "after the last arrival: hung up"
                )
        self._stop.set()
        if self._calls:
            await asyncio.wait(set(self._calls))

    async def _settle(self) -> None:
        """Give late <Dial>s and the agents' wrap-ups time to land."""
        await asyncio.sleep(0.5)
        longest = self.scenario.wrap_up.mean * 4 + 5.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(bot.settle() for bot in self.bots)), longest)
        if self._chores:
            await asyncio.wait(set(self._chores), timeout=DIAL_SECONDS)

    # --- one call ---------------------------------------------------------------------

    async def _call(self, record: CallRecord) -> None:
        try:
            await self._live_call(record)
        except (ServerRefused, ServerUnreachable) as error:
            if isinstance(error, ServerUnreachable) or error.status in (401, 403):
                self._fail(error)
            else:
                self.ledger.failures.append(f"{record.plan.call_sid}: {error}")
            if record.placed_at is not None and record.outcome is None:
                record.outcome = (
                    Outcome.ABANDONED if record.connected_at is None else Outcome.SERVED
                )

    def _fail(self, error: CallcenterError) -> None:
        """The server is gone or refuses us: stop the run, and raise `error` at its end."""
        if self._fatal is None:
            self._fatal = error
        self._stop.set()

    async def _live_call(self, record: CallRecord) -> None:
        plan, gateway = record.plan, self.gateway
        assert gateway is not None
        assert self._api is not None
        if plan.first_call:
            await self._api.put_caller(
                plan.caller,
                {
                    "name": f"Caller {plan.caller[-4:]}",
                    "tier": plan.tier,
                    "tags": ["simulated"],
                    "account": {"number": plan.caller[-7:]},
                },
            )
        connected = self.switchboard.expect(plan.call_sid)
        record.placed_at = self.now()
        await gateway.place(record)
        self._spawn(read_arrival_estimate(self._api, self.ledger, record), self._chores)
        if await self._hold(record, connected):
            return
        if not connected.is_set():
            record.hung_up_at = self.now()
            await gateway.hang_up(record)
            if record.outcome is None:
                record.outcome = Outcome.ABANDONED
            return
        stop_speaking = asyncio.Event()
        speaking = self._speak(record, stop_speaking)
        await self._sleep(plan.handle_seconds)
        stop_speaking.set()
        record.hung_up_at = self.now()
        record.outcome = Outcome.SERVED
        await gateway.hang_up(record)
        self._hung_up(record)
        if speaking is not None:
            await asyncio.gather(speaking, return_exceptions=True)

    async def _hold(self, record: CallRecord, connected: asyncio.Event) -> bool:
        """Wait until connected, out of patience or stopped; True when the caller took a
        callback instead, which is over on return."""
        plan, gateway, callbacks = record.plan, self.gateway, self._callbacks
        patience = plan.patience_seconds if plan.patience_seconds is not None else float("inf")
        if plan.takes_callback and callbacks is not None and isinstance(gateway, TwilioGateway):
            if await callbacks.hold(record, gateway, connected, patience):
                await callbacks.called_back(record)
                return True
            return False
        await self._sleep(min(patience, 10 * 86_400.0), connected)
        return False

    def _hung_up(self, record: CallRecord) -> None:
        """The agent's phone hears the hang-up at once; the desktop feed says so later."""
        bot = self._bots.get(record.dialed_agent or "")
        if bot is not None:
            bot.call_ended(record.plan.call_sid)

    def _connect(self, call_id: str, agent_id: str) -> None:
        """A <Dial> of the caller's own leg to `agent_id`."""
        record = self.ledger.record(call_id)
        if record is not None and record.callback:
            self.ledger.routing_error(
                f"{call_id}: a <Dial> to {agent_id} for a caller who took a callback"
            )
            return
        self.switchboard.connect(call_id, agent_id)

    def _speak(self, record: CallRecord, stop: asyncio.Event) -> asyncio.Task[None] | None:
        mood = record.plan.mood
        clips = self._clips.get(mood or "")
        if not clips or self.gateway is None or isinstance(self.gateway, SILENT_GATEWAYS):
            return None
        clip = clips[record.plan.clip_pick % len(clips)]
        record.spoke = True
        gateway = self.gateway

        async def speak() -> None:
            try:
                await gateway.speak(record, clip, stop)
            except (ServerRefused, aiohttp.ClientError) as error:
                self.ledger.failures.append(f"{record.plan.call_sid}: media stream: {error}")

        return asyncio.get_running_loop().create_task(speak())

    def _accepted(self, call_id: str, agent_id: str) -> None:
        record = self.ledger.record(call_id)
        if record is None or self.gateway is None:
            return
        if isinstance(self.gateway, GenericGateway):
            self.switchboard.connect(call_id, agent_id)
            self._spawn(self._report_answer(record, agent_id), self._chores)
        else:
            self._spawn(self._expect_dial(record, agent_id), self._chores)

    async def _report_answer(self, record: CallRecord, agent_id: str) -> None:
        assert self.gateway is not None
        try:
            await self.gateway.answered(record, agent_id)
        except (ServerRefused, ServerUnreachable) as error:
            self.ledger.failures.append(f"{record.plan.call_sid}: {error}")

    async def _expect_dial(self, record: CallRecord, agent_id: str) -> None:
        await asyncio.sleep(DIAL_SECONDS)
        if record.dialed_agent is None and not record.callback and not self._warned_no_dial:
            self._warned_no_dial = True
            missing = getattr(self.gateway, "missing_connect", "the gateway was not told")
            self._report(f"warning: {agent_id} accepted {record.plan.call_sid} but {missing}")
