"""After a run (check_run): the routing errors the ledger shows (callback_checks.py,
text_checks.py), the server's counts against ours (metrics_check.py), and the server's own
documents: every placed call ended the way the caller lived it (a callback served or
failed, never abandoned unless canceled), with the agent the gateway connected and, for a
callback, as many attempts as were dialled; every text conversation ended as its customer
and agent lived it, with the agent whose accept was taken and as many messages each way as
were taken."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from callcenter.simulate.api import ServerApi
from callcenter.simulate.callback_checks import callback_errors
from callcenter.simulate.ledger import SERVER_OUTCOMES, CallRecord, Ledger, Outcome, TextRecord
from callcenter.simulate.metrics_check import Sample, compare
from callcenter.simulate.text_checks import holding_errors

if TYPE_CHECKING:
    from callcenter.simulate.runner import RunResult

CONCURRENCY = 16


async def check_run(api: ServerApi, result: RunResult, *, before: Sample, twilio: bool) -> None:
    """Everything checked once a run is over and settled, into `result` and its ledger;
    `before` is the scrape of the server's metrics before the run."""
    ledger, scenario = result.ledger, result.scenario
    ledger.routing_errors.extend(callback_errors(ledger, scenario.rules))
    ledger.routing_errors.extend(holding_errors(ledger, scenario))
    after = result.metrics_after = Sample.parse(await api.metrics())
    result.checks = compare(before, after, ledger, scenario.gateway)
    await verify_calls(api, ledger, result, twilio=twilio)
    await verify_texts(api, ledger, result)


async def verify_calls(api: ServerApi, ledger: Ledger, result: RunResult, *, twilio: bool) -> None:
    """Fill `result.server_calls` with each placed call's document and
    `result.server_problems` with every disagreement."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(record: CallRecord) -> None:
        sid = record.plan.call_sid
        async with limit:
            document = await api.call(sid)
        if document is None:
            result.server_problems.append(f"{sid}: the server has no such call")
            return
        result.server_calls[sid] = document
        result.server_problems.extend(problems(record, document, twilio=twilio))

    await asyncio.gather(*(one(record) for record in ledger.placed()))


def problems(record: CallRecord, document: dict[str, object], *, twilio: bool) -> list[str]:
    """Where the server's document of a call disagrees with what the gateway lived."""
    found = [
        _outcome_problem(record, document),
        _agent_problem(record, document),
        _dial_problem(record) if twilio else None,
        _callback_problem(record, document),
    ]
    return [problem for problem in found if problem is not None]


def _outcome_problem(record: CallRecord, document: dict[str, object]) -> str | None:
    sid = record.plan.call_sid
    expected = SERVER_OUTCOMES[record.outcome or Outcome.ABANDONED]
    if document.get("state") not in ("wrap_up", "ended"):
        return f"{sid}: still {document.get('state')} on the server"
    if document.get("outcome") != expected:
        return f"{sid}: the server says {document.get('outcome')}, the caller lived {expected}"
    return None


def _agent_problem(record: CallRecord, document: dict[str, object]) -> str | None:
    if record.outcome is not Outcome.SERVED:
        return None
    agent = record.dialed_agent or record.accepted_by
    if document.get("agent_id") == agent:
        return None
    return (
        f"{record.plan.call_sid}: the server names agent {document.get('agent_id')}, the "
        f"gateway connected {agent}"
    )


def _dial_problem(record: CallRecord) -> str | None:
    """Twilio: the agent whose accept the server took is the one it had the gateway dial."""
    if not record.accepted_by or record.accepted_by == record.dialed_agent or record.callback:
        return None  # a callback's dials: callback_checks
    return (
        f"{record.plan.call_sid}: {record.accepted_by} accepted, the <Dial> went to "
        f"{record.dialed_agent or 'nobody'}"
    )


def _callback_problem(record: CallRecord, document: dict[str, object]) -> str | None:
    """A callback on both sides or on neither, with as many attempts as were dialled."""
    sid = record.plan.call_sid
    callback = document.get("callback")
    if not isinstance(callback, dict):
        return (
            f"{sid}: the caller took a callback, the server has none" if record.callback else None
        )
    if not record.callback:
        return f"{sid}: the server has a callback ({callback.get('source')}) nobody asked for"
    attempts = callback.get("attempts", 0)
    dialled = len(record.callback_attempts)
    if record.outcome in (Outcome.SERVED, Outcome.FAILED) and attempts != dialled:
        return f"{sid}: the server counts {attempts} callback attempts, {dialled} were dialled"
    return None


async def verify_texts(api: ServerApi, ledger: Ledger, result: RunResult) -> None:
    """Add to `result.server_problems` every disagreement between a conversation's record
    and the server's task."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(record: TextRecord) -> None:
        assert record.task_id is not None
        async with limit:
            status, view = await api.request("GET", f"/v1/tasks/{record.task_id}", ok=(200, 404))
        if status != 200:
            result.server_problems.append(f"{record.task_id}: the server has no such task")
            return
        result.server_problems.extend(text_problems(record, view.get("task") or {}))

    await asyncio.gather(*(one(record) for record in ledger.opened()))


def text_problems(record: TextRecord, task: dict[str, Any]) -> list[str]:
    """Where the server's task disagrees with what its customer and agent lived."""
    tid = record.task_id
    if task.get("state") != "ended":
        return [f"{tid}: still {task.get('state')} on the server"]
    found = []
    if task.get("outcome") != record.outcome:
        found.append(f"{tid}: the server says {task.get('outcome')}, we lived {record.outcome}")
    if record.accepted_by is not None and task.get("agent_id") != record.accepted_by:
        found.append(
            f"{tid}: the server names agent {task.get('agent_id')}, {record.accepted_by} accepted"
        )
    conversation = task.get("conversation") or {}
    counted = (conversation.get("customer_messages", 0), conversation.get("agent_messages", 0))
    taken = (len(record.customer_messages), len(record.replies))
    if counted != taken:
        found.append(
            f"{tid}: the server counts {counted[0]} customer messages and {counted[1]} "
            f"replies, {taken[0]} and {taken[1]} were taken"
        )
    return found
