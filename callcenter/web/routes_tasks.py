"""The route table's text tasks: chat, SMS and email conversations through the API."""

from __future__ import annotations

from callcenter.domain.calls import Call
from callcenter.domain.messages import Message
from callcenter.services.tasks import TaskRequest
from callcenter.web.handlers import chat_socket, live, tasks
from callcenter.web.operation import (
    ADMIN,
    GATEWAY,
    HTML,
    OPEN,
    SELF,
    SUPERVISOR,
    Operation,
    path_param,
)
from callcenter.web.problem import Problem

TASK = path_param("task_id", "Task id (from POST /v1/tasks or the screen pop)", max_length=64)

TASK_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="POST",
        path="/v1/tasks",
        handler=tasks.post_task,
        operation_id="createTask",
        tag="Tasks",
        summary="Open a chat, SMS or email conversation and route it",
        roles=(GATEWAY, ADMIN),
        description=(
            "The task waits in line with calls (priority, then arrival) for an agent with "
            "room on its channel. `from` is the customer on that channel; `body`, if "
            "given, is their first message."
        ),
        request=TaskRequest,
        responses=(
            (201, tasks.TaskCreated, "The task, waiting"),
            (
                422,
                Problem,
                "A field is wrong (a channel that is not chat, sms or email; "
                "blank or oversize text)",
            ),
        ),
    ),
    Operation(
        method="GET",
        path="/v1/tasks/{task_id}",
        handler=tasks.get_task,
        operation_id="getTask",
        tag="Tasks",
        summary="Read a task and its conversation",
        roles=(SELF, GATEWAY, SUPERVISOR, ADMIN),
        params=(TASK,),
        responses=((200, tasks.TaskView, "The task and its messages, oldest first"),),
    ),
    Operation(
        method="GET",
        path="/v1/tasks/{task_id}/messages",
        handler=tasks.list_messages,
        operation_id="listTaskMessages",
        tag="Tasks",
        summary="Read a task's conversation",
        roles=(SELF, GATEWAY, SUPERVISOR, ADMIN),
        params=(TASK,),
        responses=((200, tasks.MessageList, "The messages, oldest first"),),
    ),
    Operation(
        method="POST",
        path="/v1/tasks/{task_id}/messages",
        handler=tasks.post_message,
        operation_id="postTaskMessage",
        tag="Tasks",
        summary="Write in a conversation: the customer (gateway token) or its agent",
        roles=(SELF, GATEWAY, ADMIN),
        description=(
            "With an agent's token the message is that agent's reply, sent through the "
            "task's channel (SMS, email) before it is stored; the agent must have accepted "
            "the task. With a gateway's or admin's token it is the customer's."
        ),
        params=(TASK,),
        request=tasks.MessageBody,
        responses=(
            (201, Message, "The message as stored"),
            (409, Problem, "The task is over, or not this agent's (or not accepted yet)"),
            (502, Problem, "The channel did not take the reply; nothing was stored"),
        ),
    ),
    Operation(
        method="POST",
        path="/v1/tasks/{task_id}/resolve",
        handler=tasks.post_resolve,
        operation_id="resolveTask",
        tag="Tasks",
        summary="Resolve a task (its agent), or close it (gateway, supervisor, admin)",
        roles=(SELF, GATEWAY, SUPERVISOR, ADMIN),
        description=(
            "Handled if an agent was working it, abandoned otherwise; the agent's capacity "
            "is freed. Repeating it answers the resolved task again."
        ),
        params=(TASK,),
        request=tasks.Resolution,
        responses=((200, Call, "The task, ended"),),
    ),
    Operation(
        method="POST",
        path="/v1/tasks/{task_id}/typing",
        handler=tasks.post_typing,
        operation_id="taskTyping",
        tag="Tasks",
        summary="The agent is typing: the customer's chat window shows it",
        roles=(SELF,),
        params=(TASK,),
        responses=(
            (204, None, "Announced (at most once a second)"),
            (409, Problem, "Not this agent's open chat"),
        ),
    ),
    Operation(
        method="GET",
        path="/ws/chat",
        handler=chat_socket.chat_socket,
        operation_id="chatSocket",
        tag="Tasks",
        summary="Websocket: a customer's web chat (start or resume, then messages both ways)",
        roles=(OPEN,),
        messages=chat_socket.CHAT_MESSAGES,
        description=(
            'The first message is `{"type": "start", "name"?, "email"?, "phone"?, "queue"?, '
            '"topic"?, "message"?}` (a new chat: the answer is `{"type": "session", '
            '"task_id", "token", "expires_at"}`) or `{"type": "resume", "token"}`. Then '
            '`{"type": "history", ...}`, and live `{"type": "message"}` and '
            '`{"type": "state"}` frames; the customer sends `{"type": "message", "body"}` '
            'or `{"type": "leave"}`. Refusals close with 4401 (bad or expired token) or '
            "1008 and a reason; a bad later message gets an error frame."
        ),
        responses=(
            (101, None, "Switching to the websocket protocol"),
            (426, Problem, "Not a websocket handshake"),
        ),
    ),
    Operation(
        method="GET",
        path="/chat",
        handler=live.chat_page,
        operation_id="chatPage",
        tag="Tasks",
        summary="A demo page with the chat widget (`/static/chat/widget.js`) embedded",
        roles=(OPEN,),
        responses=((200, HTML, "The page"),),
    ),
)
