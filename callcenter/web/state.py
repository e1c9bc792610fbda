"""Typed application state, every `web.AppKey` of the server in one place: the services
the handlers call, and what the web layer keeps (the live hub, open sockets, pages, the
OpenAPI document). The composition root's own keys (the Redis client, the repositories,
the notifier) are in `callcenter/app_keys.py`, a layer up, because their types are."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from callcenter.metrics import Metrics
from callcenter.services.access import AgentAccess
from callcenter.services.agents import AgentService
from callcenter.services.alert_raiser import AlertRaiser
from callcenter.services.auth import AuthService
from callcenter.services.bus import EventBus
from callcenter.services.call_events import CallEventService
from callcenter.services.call_monitor import CallMonitor
from callcenter.services.callbacks import CallbackService
from callcenter.services.callers import CallerService
from callcenter.services.calls import CallQueryService
from callcenter.services.chat_sessions import ChatSessions
from callcenter.services.clock import Clock
from callcenter.services.dispatch import Dispatcher
from callcenter.services.invariant_sweep import InvariantSweep
from callcenter.services.jambonz_control import JambonzControl
from callcenter.services.jambonz_hooks import JambonzHooks
from callcenter.services.l16_media import L16MediaStreams
from callcenter.services.live import LiveViews
from callcenter.services.live_feed import LiveFeed
from callcenter.services.mailgun_inbound import MailgunInbound
from callcenter.services.media import MediaHub
from callcenter.services.outlook_feed import OutlookFeed
from callcenter.services.queue_outlook import QueueOutlook
from callcenter.services.readiness import Readiness
from callcenter.services.routing import RoutingService
from callcenter.services.task_inbound import InboundConversations
from callcenter.services.tasks import TaskService
from callcenter.services.token_sessions import TokenSessions
from callcenter.services.transcripts import TranscriptService
from callcenter.services.twilio_media import TwilioMediaStreams
from callcenter.services.twilio_messaging import TwilioMessaging
from callcenter.services.twilio_voice import TwilioVoice
from callcenter.settings import Settings

if TYPE_CHECKING:
    from callcenter.web.handlers.chat_hub import ChatHub
    from callcenter.web.handlers.chat_sessions import WidgetFile
    from callcenter.web.handlers.health import Scrape
    from callcenter.web.handlers.live_hub import LiveHub


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    auth: AuthService
    access: AgentAccess
    events: CallEventService
    agents: AgentService
    callers: CallerService
    calls: CallQueryService
    routing: RoutingService
    callbacks: CallbackService
    alerts: AlertRaiser
    tasks: TaskService
    inbound: InboundConversations
    live: LiveViews
    feed: LiveFeed
    outlook: QueueOutlook
    outlook_feed: OutlookFeed
    sweep: InvariantSweep
    twilio_voice: TwilioVoice
    twilio_messaging: TwilioMessaging
    mailgun: MailgunInbound
    chat: ChatSessions
    twilio_media: TwilioMediaStreams
    l16_media: L16MediaStreams
    jambonz: JambonzHooks
    jambonz_control: JambonzControl
    readiness: Readiness


SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
SERVICES = web.AppKey("services", Services)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
MEDIA = web.AppKey("media", MediaHub)
TRANSCRIPTS = web.AppKey("transcripts", TranscriptService)
BUS = web.AppKey("bus", EventBus)
MONITOR = web.AppKey("monitor", CallMonitor)
CLOCK = web.AppKey("clock", Clock)
TOKEN_SESSIONS = web.AppKey("token_sessions", TokenSessions)
# kept by the web layer (their classes live in the handlers that use them)
HUB: web.AppKey[LiveHub] = web.AppKey("live_hub")
CHAT_HUB: web.AppKey[ChatHub] = web.AppKey("chat_hub")
CHAT_FILES: web.AppKey[dict[str, WidgetFile]] = web.AppKey("chat_widget_files")
LIVE_SOCKETS = web.AppKey[weakref.WeakSet[web.WebSocketResponse]]("live_sockets")
MEDIA_SOCKETS = web.AppKey[weakref.WeakSet[web.WebSocketResponse]]("media_sockets")
PAGES = web.AppKey[dict[str, str]]("live_pages")
SCRAPE: web.AppKey[Scrape] = web.AppKey("scrape")  # set by the observability context
DOCS = web.AppKey[dict[str, Any]]("openapi_document")
API_PAGE = web.AppKey("api_page", str)

if TYPE_CHECKING:
    from callcenter.web.handlers.health import Scrape
    from callcenter.web.handlers.live_hub import LiveHub
