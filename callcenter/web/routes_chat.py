"""The route table's web chat: a customer opens a chat session, follows the chat on its
socket; the widget's files and a demo page. All open: a session token is the customer's
only credential (the agent's side is the tasks API)."""

from __future__ import annotations

from callcenter.services.chat_sessions import ChatSession, ChatStart
from callcenter.web.handlers import chat_protocol, chat_sessions, chat_socket, live
from callcenter.web.operation import HTML, OPEN, Operation, Text
from callcenter.web.problem import Problem

CHAT_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="POST",
        path="/v1/chat/sessions",
        handler=chat_sessions.post_session,
        operation_id="createChatSession",
        tag="Chat",
        summary="A customer opens a web chat: the chat is routed, the answer is its session",
        roles=(OPEN,),
        description=(
            "Every field is optional. The phone number (E.164), else the email, is the "
            "customer's identity, so a chat from a known number lands on that customer's "
            "record (the email is linked to it); without either the chat gets a visitor id. "
            "`message` is the customer's first message. The `token` authenticates the "
            "customer's `/ws/chat` socket until `expires_at` (24 h). Any origin may call "
            "this (CORS); new chats per client address are limited "
            "(CALLCENTER_CHAT_SESSIONS_PER_MINUTE)."
        ),
        request=ChatStart,
        responses=(
            (201, ChatSession, "The chat, waiting for an agent, and its session"),
            (413, Problem, "Body over the size limit"),
            (422, Problem, "A field is wrong (`pointer` names it: /email, /phone …)"),
            (429, Problem, "Too many new chats from this address (with Retry-After)"),
        ),
    ),
    Operation(
        method="OPTIONS",
        path="/v1/chat/sessions",
        handler=chat_sessions.session_preflight,
        operation_id="chatSessionPreflight",
        tag="Chat",
        summary="CORS preflight: pages of any origin may open a chat",
        roles=(OPEN,),
        responses=((204, None, "Allowed: POST with Content-Type"),),
    ),
    Operation(
        method="GET",
        path="/ws/chat",
        handler=chat_socket.chat_socket,
        operation_id="chatSocket",
        tag="Chat",
        summary="Websocket: a customer's web chat (history, then messages both ways)",
        roles=(OPEN,),
        messages=chat_protocol.CHAT_MESSAGES,
        description=(
            'The first message is `{"type": "auth", "token"}` (the session\'s token). Then '
            '`{"type": "history", "state", "agent", "messages"}`, and live `message`, '
            "`state` (an agent joined: its name in `agent`; `ended`: closed) and `typing` "
            'frames. The customer sends `{"type": "message", "body"}`, `{"type": "typing"}` '
            'or `{"type": "leave"}`. A missing, bad or expired token closes with 4401, a '
            "chat that is gone with 4404; a refused later frame gets "
            '`{"type": "error", "reason"}`.'
        ),
        responses=(
            (101, None, "Switching to the websocket protocol"),
            (426, Problem, "Not a websocket handshake"),
        ),
    ),
    Operation(
        method="GET",
        path="/chat/widget.js",
        handler=chat_sessions.widget_script,
        operation_id="chatWidgetScript",
        tag="Chat",
        summary='The chat widget: `<script src="…/chat/widget.js" data-queue="support">`',
        roles=(OPEN,),
        responses=(
            (200, Text("text/javascript"), "The script (with an ETag)"),
            (304, None, "Not modified (If-None-Match)"),
        ),
    ),
    Operation(
        method="GET",
        path="/chat/widget.css",
        handler=chat_sessions.widget_style,
        operation_id="chatWidgetStyle",
        tag="Chat",
        summary="The chat widget's style sheet (the script loads it into its shadow root)",
        roles=(OPEN,),
        responses=(
            (200, Text("text/css"), "The style sheet (with an ETag)"),
            (304, None, "Not modified (If-None-Match)"),
        ),
    ),
    Operation(
        method="GET",
        path="/chat",
        handler=live.chat_page,
        operation_id="chatPage",
        tag="Chat",
        summary="A demo page with the chat widget embedded",
        roles=(OPEN,),
        responses=((200, HTML, "The page"),),
    ),
)
