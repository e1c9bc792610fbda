"""What a simulation run is given (RunOptions) and gives back (RunResult: the ledger, the
server's documents and the metrics checks), and how it fails to start (RunFailed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callcenter.errors import CallcenterError
from callcenter.simulate.ledger import CallRecord, Ledger, TextRecord
from callcenter.simulate.metrics_check import Check, Sample
from callcenter.simulate.scenario import Scenario

DEFAULT_ACCOUNT_SID = "AC" + "5" * 32


class RunFailed(CallcenterError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    server_url: str = "http://127.0.0.1:8080"
    token: str  # admin
    public_url: str | None = None  # the server's CALLCENTER_PUBLIC_URL, if it has one
    twilio_account_sid: str = DEFAULT_ACCOUNT_SID
    twilio_auth_token: str = ""
    twilio_api_host: str = "127.0.0.1"
    twilio_api_port: int = 8089
    ari_host: str = "127.0.0.1"  # where the simulated Asterisk serves ARI
    ari_port: int = 8088
    ari_app: str = "callcenter"
    ari_user: str = "callcenter"
    ari_password: str = ""
    esl_host: str = "127.0.0.1"  # where the simulated FreeSWITCH serves its event socket
    esl_port: int = 8021
    esl_password: str = "ClueCon"
    webhook_secret: str = ""  # the server's: sign generic events with it (else a token)
    speech: bool = True  # stream the callers' clips
    connect_timeout_seconds: float = 30.0
    drain_seconds: float = 120.0  # after the last arrival, for calls still going on


@dataclass(slots=True)
class RunResult:
    scenario: Scenario
    ledger: Ledger
    elapsed: float = 0.0
    interrupted: bool = False
    checks: list[Check] | None = None
    server_calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    server_problems: list[str] = field(default_factory=list)
    metrics_before: Sample | None = None
    metrics_after: Sample | None = None

    @property
    def unfinished(self) -> list[CallRecord]:
        return [r for r in self.ledger.placed() if r.outcome is None]

    @property
    def open_texts(self) -> list[TextRecord]:
        return [r for r in self.ledger.opened() if r.closed_at is None]

    @property
    def ok(self) -> bool:
        return (
            not self.ledger.routing_errors
            and not self.ledger.failures
            and not self.server_problems
            and not self.unfinished
            and not self.open_texts
            and all(c.ok for c in self.checks or [])
        )
