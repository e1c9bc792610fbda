"""The route table's text tasks: chat, SMS and email conversations through the API."""

from __future__ import annotations

from callcenter.domain.calls import Call
from callcenter.domain.messages import Message
from callcenter.services.tasks import TaskRequest
from callcenter.web.handlers import tasks
from callcenter.web.operation import (
    ADMIN,
    GATEWAY,
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
        description=(
            "For the chat's agent (accepted, not yet resolved); announced on the bus as "
            "`task.typing` at most once a second per chat, whichever instance is asked."
        ),
        params=(TASK,),
        responses=(
            (204, None, "Announced (at most once a second)"),
            (409, Problem, "Not this agent's open chat"),
        ),
    ),
)
