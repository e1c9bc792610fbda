"""After a run: every placed call, as the server's own document tells it, ended the way
the caller lived it (a callback served or failed, never abandoned unless canceled), with
the agent the gateway connected and, for a callback, as many attempts as were dialled."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from callcenter.simulate.api import ServerApi
from callcenter.simulate.ledger import SERVER_OUTCOMES, CallRecord, Ledger, Outcome

if TYPE_CHECKING:
    from callcenter.simulate.runner import RunResult

CONCURRENCY = 16


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
