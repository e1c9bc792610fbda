"""The composition root's own application state: what start-up makes for the other
start-up steps and no handler reads (the web layer's keys are in `web/state.py`)."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from callcenter.domain.messages import Channel
from callcenter.gateways.asterisk.ari_calls import AriCalls
from callcenter.repositories import Repositories
from callcenter.services.callbacks import CallbackDialer
from callcenter.services.notify import RouteNotifier
from callcenter.services.task_writes import ReplySender
from callcenter.speech.sentiment import SentimentScorer
from callcenter.storage.resp import RespClient

REDIS = web.AppKey("redis", RespClient)
REPOSITORIES = web.AppKey("repositories", Repositories)
NOTIFIER = web.AppKey("notifier", RouteNotifier)
DIALERS = web.AppKey[Mapping[str, CallbackDialer]]("callback_dialers")
SCORER = web.AppKey("sentiment_scorer", SentimentScorer)
SENDERS = web.AppKey[Mapping[Channel, ReplySender]]("reply_senders")
ASTERISK = web.AppKey[AriCalls | None]("asterisk_calls")  # ARI call control, when configured
