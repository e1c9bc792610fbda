"""After a run: every placed call, as the server's own document tells it, ended the way
the caller lived it and with the agent the gateway connected."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from callcenter.simulate.api import ServerApi
from callcenter.simulate.ledger import CallRecord, Ledger, Outcome

if TYPE_CHECKING:
    from callcenter.simulate.runner import RunResult

CONCURRENCY = 16
SERVER_OUTCOMES = {Outcome.SERVED: "handled", Outcome.ABANDONED: "abandoned"}


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
    if not record.accepted_by or record.accepted_by == record.dialed_agent:
        return None
    return (
        f"{record.plan.call_sid}: {record.accepted_by} accepted, the <Dial> went to "
        f"{record.dialed_agent or 'nobody'}"
    )
