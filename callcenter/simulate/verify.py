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
    sid = record.plan.call_sid
    found = []
    expected = SERVER_OUTCOMES[record.outcome or Outcome.ABANDONED]
    if document.get("state") not in ("wrap_up", "ended"):
        found.append(f"{sid}: still {document.get('state')} on the server")
    elif document.get("outcome") != expected:
        found.append(
            f"{sid}: the server says {document.get('outcome')}, the caller lived {expected}"
        )
    if record.outcome is Outcome.SERVED:
        agent = record.dialed_agent or record.accepted_by
        if document.get("agent_id") != agent:
            found.append(
                f"{sid}: the server names agent {document.get('agent_id')}, the gateway "
                f"connected {agent}"
            )
    if twilio and record.accepted_by and record.accepted_by != record.dialed_agent:
        found.append(
            f"{sid}: {record.accepted_by} accepted, the <Dial> went to "
            f"{record.dialed_agent or 'nobody'}"
        )
    return found
