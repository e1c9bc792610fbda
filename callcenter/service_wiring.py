"""`build_services`: the services wired around the repositories, each built once. Part of
assembling the application (`create_app` calls it when Redis is up)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from callcenter.domain.event_time import EventClock
from callcenter.domain.messages import Channel
from callcenter.gateway_setup import (
    callback_dialect,
)
from callcenter.metrics import Metrics
from callcenter.repositories import Repositories
from callcenter.services.access import AgentAccess
from callcenter.services.agents import AgentService
from callcenter.services.alert_raiser import AlertRaiser
from callcenter.services.auth import AuthService
from callcenter.services.bus import EventBus
from callcenter.services.call_events import CallEventService
from callcenter.services.callbacks import CallbackDialer, CallbackService
from callcenter.services.callers import CallerService
from callcenter.services.calls import CallQueryService
from callcenter.services.chat_sessions import ChatSessions
from callcenter.services.clock import Clock
from callcenter.services.dispatch import Dispatcher
from callcenter.services.freed_agents import FreedAgents
from callcenter.services.invariant_sweep import InvariantSweep
from callcenter.services.jambonz_control import AgentDialing, JambonzControl
from callcenter.services.jambonz_hooks import JambonzHooks, JambonzSignatures
from callcenter.services.l16_media import L16MediaStreams
from callcenter.services.live import LiveStores, LiveViews
from callcenter.services.live_feed import LiveFeed
from callcenter.services.mailgun_inbound import MailgunInbound
from callcenter.services.media import MediaHub
from callcenter.services.notify import FanOutNotifier, RouteNotifier
from callcenter.services.outlook_feed import OutlookFeed
from callcenter.services.queue_outlook import QueueOutlook
from callcenter.services.readiness import Readiness
from callcenter.services.routing import RoutingService
from callcenter.services.rules_source import RulesSource
from callcenter.services.screen_pops import ScreenPops
from callcenter.services.task_inbound import InboundConversations
from callcenter.services.task_writes import ReplySender, TaskWrites
from callcenter.services.tasks import TaskService
from callcenter.services.text_monitor import TextMonitor
from callcenter.services.timer_loop import TimerLoop
from callcenter.services.twilio_callbacks import TwilioCallbacks
from callcenter.services.twilio_media import TwilioMediaStreams
from callcenter.services.twilio_messaging import TwilioMessaging
from callcenter.services.twilio_voice import TwilioSignatures, TwilioVoice
from callcenter.settings import Settings
from callcenter.speech.sentiment import SentimentScorer
from callcenter.storage.chat_limits import ChatLimits
from callcenter.storage.dispatch_turn import DispatchTurn
from callcenter.storage.resp import RespClient
from callcenter.web.state import (
    Services,
)


def build_services(
    repositories: Repositories,
    settings: Settings,
    metrics: Metrics,
    clock: Clock,
    *,
    rules: RulesSource,
    notify: RouteNotifier,
    bus: EventBus,
    media: MediaHub,
    redis: RespClient,
    feed: LiveFeed,
    freed: FreedAgents,
    dialers: Mapping[str, CallbackDialer],
    scorer: SentimentScorer,
    senders: Mapping[Channel, ReplySender],
    chat_secret: str,
) -> tuple[Services, Dispatcher, TimerLoop]:
    """Wire the services around the repositories (whose change listeners are `feed` and
    `freed`)."""
    calls, agents = repositories.calls, repositories.agents
    callers = CallerService(repositories.callers, clock=clock)
    live_stores = LiveStores(
        calls=calls,
        agents=agents,
        alerts=repositories.alerts,
        live_moods=repositories.live_moods,
        transcripts=repositories.transcripts,
        queue_stats=repositories.queue_stats,
    )
    pops = ScreenPops(bus, calls, callers, metrics=metrics)
    activity = repositories.queue_activity
    outlook = QueueOutlook(calls, agents, activity, rules=rules, clock=clock)
    notify = FanOutNotifier([notify, pops])
    dispatcher = Dispatcher(
        calls,
        agents,
        rules,
        turn=DispatchTurn(redis),
        clock=clock,
        metrics=metrics,
        notify=notify,
        freed=freed,
    )
    routing = RoutingService(
        calls, agents, callers, rules, dispatcher, clock=clock, metrics=metrics, notify=notify
    )
    auth = AuthService(
        repositories.tokens,
        repositories.replay,
        clock=clock,
        metrics=metrics,
        webhook_secret=settings.webhook_secret.reveal(),
        tolerance_seconds=settings.signature_tolerance_seconds,
        cache_seconds=settings.token_cache_seconds,
    )
    agent_service = AgentService(agents, calls, clock=clock, on_ready=dispatcher.request)
    events = CallEventService(
        calls,
        callers,
        clock=clock,
        metrics=metrics,
        default_queue=settings.default_queue,
        routing=routing,
        moods=repositories.call_moods,
        transcripts=repositories.transcripts,
        event_clock=EventClock(
            tolerance=timedelta(seconds=settings.event_clock_tolerance_seconds),
            replay_window=timedelta(seconds=settings.dedupe_window_seconds),
        ),
    )
    call_queries = CallQueryService(calls)
    callbacks = CallbackService(
        calls,
        callers,
        routing,
        dialers,
        default_dialect=callback_dialect(settings, dialers),
        default_queue=settings.default_queue,
        clock=clock,
        metrics=metrics,
    )
    notify.add(callbacks)  # an accepted callback is placed at once by its instance
    alerts = AlertRaiser(
        repositories.alerts,
        calls,
        bus,
        routing=routing,
        callers=callers,
        metrics=metrics,
        clock=clock,
    )
    conversations = repositories.conversations
    task_writes = TaskWrites(
        calls,
        bus,
        watcher=TextMonitor(
            scorer,
            conversations,
            bus,
            moods=repositories.call_moods,
            live_moods=repositories.live_moods,
            rules=rules,
            alerts=alerts,
        ),
        clock=clock,
        metrics=metrics,
    )
    tasks = TaskService(
        task_writes,
        conversations,
        callers,
        routing,
        senders=senders,
        moods=repositories.call_moods,
        default_queue=settings.default_queue,
    )
    inbound = InboundConversations(
        task_writes, conversations, routing, callers, tasks, default_queue=settings.default_queue
    )
    twilio_token = settings.twilio_auth_token.reveal()
    twilio_signatures = TwilioSignatures(twilio_token, metrics=metrics)
    timer_loop = TimerLoop(
        repositories.timers, routing, agent_service, callbacks, clock=clock, metrics=metrics
    )
    services = Services(
        auth=auth,
        access=AgentAccess(calls),
        events=events,
        agents=agent_service,
        callers=callers,
        calls=call_queries,
        routing=routing,
        callbacks=callbacks,
        alerts=alerts,
        tasks=tasks,
        inbound=inbound,
        chat=ChatSessions(
            tasks,
            agent_service,
            bus,
            ChatLimits(redis),
            secret=chat_secret,
            clock=clock,
            starts_per_minute=settings.chat_sessions_per_minute,
        ),
        live=LiveViews(bus, live_stores, pops, callers, rules=rules, clock=clock, outlook=outlook),
        outlook=outlook,
        outlook_feed=OutlookFeed(outlook, activity, bus, clock=clock, metrics=metrics),
        sweep=InvariantSweep(
            repositories.agents,
            repositories.calls,
            repositories.timers,
            routing,
            timer_loop,
            lines=repositories.waiting_lines,
            clock=clock,
            metrics=metrics,
            every_seconds=settings.invariant_sweep_seconds,
        ),
        feed=feed,
        twilio_voice=TwilioVoice(
            events,
            twilio_signatures,
            auth_token=twilio_token,
            hold_music_url=settings.hold_music_url,
            clock=clock,
            callbacks=TwilioCallbacks(
                call_queries,
                callbacks,
                outlook,
                rules,
                announce_seconds=settings.twilio_announce_seconds,
                clock=clock,
                offers_callbacks="twilio" in dialers,
            ),
        ),
        twilio_messaging=TwilioMessaging(inbound, twilio_signatures, metrics=metrics),
        mailgun=MailgunInbound(
            inbound,
            repositories.replay,
            signing_key=settings.mailgun_signing_key.reveal(),
            tolerance_seconds=settings.signature_tolerance_seconds,
            clock=clock,
            metrics=metrics,
        ),
        twilio_media=TwilioMediaStreams(
            media,
            call_queries,
            events,
            twilio_signatures,
            account_sid=settings.twilio_account_sid,
            auth_token=twilio_token,
            clock=clock,
            metrics=metrics,
        ),
        l16_media=L16MediaStreams(media, metrics=metrics),
        jambonz=JambonzHooks(
            events, secret=settings.jambonz_secret.reveal(), clock=clock, metrics=metrics
        ),
        jambonz_control=JambonzControl(
            events,
            call_queries,
            JambonzSignatures(settings.jambonz_secret.reveal(), clock=clock, metrics=metrics),
            dialing=AgentDialing(
                template=settings.jambonz_agent_dial_template,
                ring_seconds=settings.jambonz_agent_ring_seconds,
            ),
            hold_music_url=settings.hold_music_url,
            clock=clock,
        ),
        readiness=Readiness(redis),
    )
    return services, dispatcher, timer_loop
