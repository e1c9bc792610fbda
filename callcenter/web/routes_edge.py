"""The route table's edge: gateway webhooks, media sockets, and the live pages, their
sockets and alerts."""

from __future__ import annotations

from callcenter.domain.alerts import Ack
from callcenter.web.handlers import jambonz, live, mailgun, media, twilio
from callcenter.web.handlers.live_protocol import AGENT_MESSAGES, WALLBOARD_MESSAGES
from callcenter.web.handlers.twilio import SMS_STATUS_PATH
from callcenter.web.operation import (
    ADMIN,
    GATEWAY,
    HTML,
    JAMBONZ_SIGNED,
    MAILGUN_SIGNED,
    OPEN,
    SELF,
    SUPERVISOR,
    TWILIO_SIGNED,
    TWIML,
    Credentials,
    Operation,
    Param,
    path_param,
)
from callcenter.web.problem import Problem

SWITCHING = (101, None, "Switching protocols")


def _query(name: str, description: str, *, required: bool = False) -> Param:
    return Param(
        name=name,
        where="query",
        required=required,
        description=description,
        schema={"type": "string", "maxLength": 128},
    )


NOT_A_HANDSHAKE = (400, Problem, "Not a websocket handshake (no `Upgrade: websocket`)")

_CALL = _query("call", "The call's id (the jambonz call_sid)", required=True)
_VERB_ANSWERS = (
    (200, jambonz.JambonzVerbs, "The verbs the call runs next"),
    (404, Problem, "No such call"),
    (409, Problem, "The body's call_sid is not this call's"),
    (422, Problem, "A malformed body or `call`; `pointer` names the field"),
)

GATEWAY_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="POST",
        path="/gateways/mailgun/inbound",
        handler=mailgun.inbound,
        operation_id="mailgunInbound",
        tag="Gateways",
        summary="Mailgun route: an email joins its thread or the customer's open email "
        "conversation, or opens one",
        roles=(MAILGUN_SIGNED,),
        description="Point a Mailgun route's `forward()` here. The post's `timestamp`, "
        "`token` and `signature` are checked with CALLCENTER_MAILGUN_SIGNING_KEY (403 "
        "otherwise); a redelivered Message-Id is taken once.",
        responses=((204, None, "Taken"),),
    ),
    Operation(
        method="POST",
        path="/gateways/twilio/sms",
        handler=twilio.sms,
        operation_id="twilioSms",
        tag="Gateways",
        summary="Twilio Messaging webhook: an incoming SMS joins the customer's open SMS "
        "conversation or opens one",
        roles=(TWILIO_SIGNED,),
        description="Set it as the number's (or Messaging Service's) incoming-message "
        "webhook. A redelivered MessageSid is taken once. Answers empty TwiML: agents reply "
        "through the Messages API.",
        responses=((200, TWIML, "Empty TwiML"),),
    ),
    Operation(
        method="POST",
        path=SMS_STATUS_PATH,
        handler=twilio.sms_status,
        operation_id="twilioSmsStatus",
        tag="Gateways",
        summary="Twilio status callback of an agent's SMS reply (counted)",
        roles=(TWILIO_SIGNED,),
        responses=((204, None, "Taken"),),
    ),
    Operation(
        method="POST",
        path="/gateways/twilio/voice",
        handler=twilio.voice,
        operation_id="twilioVoice",
        tag="Gateways",
        summary="Twilio voice webhook: records the call, answers TwiML that streams its "
        "audio here and holds the caller",
        roles=(TWILIO_SIGNED,),
        responses=((200, TWIML, "TwiML"),),
    ),
    Operation(
        method="POST",
        path="/gateways/twilio/status",
        handler=twilio.status,
        operation_id="twilioStatus",
        tag="Gateways",
        summary="Twilio status callback (CallStatus) as a canonical event",
        roles=(TWILIO_SIGNED,),
        description="A callback's leg (the call placed to the customer) reports here with "
        "`?callback=<call id>&dial=<dial id>`: its statuses move that attempt (`initiated`, "
        "`ringing`: placed; `in-progress`: answered; an end before the answer: busy, no "
        "answer or failed). The query is part of the signed URL.",
        params=(
            _query("callback", "The callback's call id (its leg's status callbacks)"),
            _query("dial", "The dial attempt's id (its leg's status callbacks)"),
        ),
        responses=((204, None, "Taken"),),
    ),
    Operation(
        method="POST",
        path="/gateways/twilio/hold",
        handler=twilio.hold,
        operation_id="twilioHold",
        tag="Gateways",
        summary="Twilio <Redirect> target: the next turn of the hold (the estimated wait "
        "said, the callback offered, when due)",
        roles=(TWILIO_SIGNED,),
        params=(_query("announced", "When the caller last heard an announcement (unix s)"),),
        responses=((200, TWIML, "TwiML"),),
    ),
    Operation(
        method="POST",
        path="/gateways/twilio/callback/offer",
        handler=twilio.callback_offer,
        operation_id="twilioCallbackOffer",
        tag="Gateways",
        summary="Twilio <Gather> action of the hold's callback offer: 1 asks the caller to "
        "confirm the number to call back",
        roles=(TWILIO_SIGNED,),
        responses=((200, TWIML, "TwiML"),),
    ),
    Operation(
        method="POST",
        path="/gateways/twilio/callback/confirm",
        handler=twilio.callback_confirm,
        operation_id="twilioCallbackConfirm",
        tag="Gateways",
        summary="Twilio <Gather> action confirming the number: 1 takes the callback and "
        "hangs up, 2 asks for another number",
        roles=(TWILIO_SIGNED,),
        params=(_query("number", "The number offered, E.164 digits without the +", required=True),),
        responses=((200, TWIML, "TwiML"),),
    ),
    Operation(
        method="POST",
        path="/gateways/twilio/callback/number",
        handler=twilio.callback_number,
        operation_id="twilioCallbackNumber",
        tag="Gateways",
        summary="Twilio <Gather> action with a number keyed in for the callback: said back "
        "to confirm",
        roles=(TWILIO_SIGNED,),
        responses=((200, TWIML, "TwiML"),),
    ),
    Operation(
        method="POST",
        path="/gateways/twilio/gather/{step}",
        handler=twilio.gather,
        operation_id="twilioGather",
        tag="Gateways",
        summary="Twilio <Gather> action: the digits become call.dtmf",
        roles=(TWILIO_SIGNED,),
        params=(
            path_param(
                "step",
                "Which prompt gathered the digits",
                max_length=32,
                pattern=r"^[A-Za-z0-9_.-]{1,32}(?!\n)$",
            ),
        ),
        responses=((200, TWIML, "TwiML"),),
    ),
    Operation(
        method="POST",
        path="/gateways/jambonz/status",
        handler=jambonz.call_status,
        operation_id="jambonzStatus",
        tag="Gateways",
        summary="jambonz call status webhook as a canonical event",
        roles=(JAMBONZ_SIGNED,),
        description="Set it as the application's call status webhook. Taken and ignored: "
        "the statuses of legs jambonz places for a call (`parent_call_sid` set: the dial to "
        "an agent), and an inbound call's `in-progress` (jambonz answered the caller, for a "
        "greeting or the hold; no agent did).",
        responses=((204, None, "Taken"),),
    ),
    Operation(
        method="POST",
        path=jambonz.AGENT_DIAL_PATH,
        handler=jambonz.agent_dial,
        operation_id="jambonzAgentDial",
        tag="Gateways",
        summary="jambonz call hook of a call redirected when an agent accepted it: answers "
        "the dial to that agent",
        roles=(JAMBONZ_SIGNED,),
        description="The REST call update sent on accept points the call here. A call no "
        "longer connected to an agent is held (ended, when it is over for us).",
        params=(_CALL,),
        responses=_VERB_ANSWERS,
    ),
    Operation(
        method="POST",
        path=jambonz.DIAL_ACTION_PATH,
        handler=jambonz.dial_action,
        operation_id="jambonzDialAction",
        tag="Gateways",
        summary="jambonz actionHook of the dial to the agent: answered, the call ends; not "
        "answered, busy or failed, the caller is back in line and holds",
        roles=(JAMBONZ_SIGNED,),
        description="An agent leg that was not answered is `call.agent_failed`: the caller "
        "keeps their place in line and the agent's offer counts as missed.",
        params=(_CALL,),
        responses=_VERB_ANSWERS,
    ),
    Operation(
        method="POST",
        path=jambonz.HOLD_PATH,
        handler=jambonz.hold,
        operation_id="jambonzHold",
        tag="Gateways",
        summary="jambonz hold loop: hold music (or silence), then a redirect back here",
        roles=(JAMBONZ_SIGNED,),
        description="Without `call`, this is the application's calling webhook: the new call "
        "is recorded (as its status webhook would record it) and held. A call that is over "
        "for us is hung up.",
        params=(
            _query("call", "The call's id; absent when this is the application's calling hook"),
        ),
        responses=_VERB_ANSWERS,
    ),
)

MEDIA_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="GET",
        path="/media/twilio",
        handler=media.twilio_stream,
        operation_id="twilioMediaStream",
        tag="Media",
        summary="Websocket: Twilio Media Streams (mu-law 8 kHz, JSON messages)",
        roles=(TWILIO_SIGNED,),
        description="The stream must carry the <Parameter>s of the TwiML this service "
        "answered (call id, expiry and their HMAC) and the account's AccountSid, for a live "
        "Twilio call; anything else, bad messages and audio faster than 1.5x real time close "
        "it with 1008 and a reason (frames over 0.5 s of audio: 1009).",
        responses=(SWITCHING, NOT_A_HANDSHAKE),
    ),
    Operation(
        method="GET",
        path="/media/l16",
        handler=media.l16_stream,
        operation_id="l16MediaStream",
        tag="Media",
        summary="Websocket: L16 PCM after a JSON metadata text frame (mod_audio_fork, "
        "jambonz listen, Vonage, generic)",
        roles=(GATEWAY, ADMIN),
        credentials=Credentials.BEARER_OR_QUERY,
        description="A gateway token as `Authorization: Bearer` or, where the media server "
        "cannot set headers, as `?token=`.",
        params=(
            Param(
                name="token",
                where="query",
                required=False,
                description="A gateway token, for media servers that cannot set headers "
                "(the Authorization header wins when both are sent)",
                schema={"type": "string"},
            ),
        ),
        responses=(SWITCHING, NOT_A_HANDSHAKE),
    ),
)

LIVE_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="GET",
        path="/v1/alerts",
        handler=live.list_alerts,
        operation_id="listAlerts",
        tag="Live",
        summary="The latest alerts on live calls, newest first, with acknowledgements",
        roles=(SUPERVISOR, ADMIN),
        responses=((200, live.Alerts, "Alerts"),),
    ),
    Operation(
        method="POST",
        path="/v1/alerts/{alert_id}/ack",
        handler=live.acknowledge_alert,
        operation_id="acknowledgeAlert",
        tag="Live",
        summary="Acknowledge an alert; every wallboard hears of it",
        roles=(SUPERVISOR, ADMIN),
        params=(path_param("alert_id", "Alert id", max_length=64),),
        responses=((200, Ack, "The acknowledgement (the first one, if acknowledged before)"),),
    ),
    Operation(
        method="GET",
        path="/wallboard",
        handler=live.wallboard_page,
        operation_id="wallboardPage",
        tag="Live",
        summary="The supervisor wallboard (HTML; it asks for a supervisor token)",
        roles=(OPEN,),
        responses=((200, HTML, "The page"),),
    ),
    Operation(
        method="GET",
        path="/agent",
        handler=live.agent_page,
        operation_id="agentPage",
        tag="Live",
        summary="The agent desktop (HTML; it asks for an agent token)",
        roles=(OPEN,),
        responses=((200, HTML, "The page"),),
    ),
    Operation(
        method="GET",
        path="/ws/wallboard",
        handler=live.wallboard_socket,
        operation_id="wallboardSocket",
        tag="Live",
        summary="Websocket: snapshot then live events for wallboards",
        roles=(SUPERVISOR, ADMIN),
        credentials=Credentials.FIRST_MESSAGE,
        messages=WALLBOARD_MESSAGES,
        description="The first message authenticates: "
        '`{"type": "auth", "token": "...", "since": N|null}`. A request that is not a '
        "websocket handshake is refused with 401.",
        responses=(SWITCHING,),
    ),
    Operation(
        method="GET",
        path="/ws/agent",
        handler=live.agent_socket,
        operation_id="agentSocket",
        tag="Live",
        summary="Websocket: the agent's offers (screen pops), calls, transcript and mood",
        roles=(SELF,),
        credentials=Credentials.FIRST_MESSAGE,
        messages=AGENT_MESSAGES,
        description="The first message authenticates: "
        '`{"type": "auth", "token": "...", "since": N|null}`. A request that is not a '
        "websocket handshake is refused with 401.",
        responses=(SWITCHING,),
    ),
)
