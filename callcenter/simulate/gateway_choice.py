"""Which gateway the simulator plays, by the scenario's `gateway`: Twilio (its REST API
served here, the server's webhooks called), an Asterisk (ARI served here, the server runs
its calls as an ARI application) or the generic dialect (canonical events posted)."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from callcenter.simulate.api import ServerApi
from callcenter.simulate.asterisk_gateway import AsteriskGateway
from callcenter.simulate.callback_calls import CallbackCalls
from callcenter.simulate.generic_gateway import GenericGateway
from callcenter.simulate.ledger import Ledger
from callcenter.simulate.run_result import RunFailed, RunOptions
from callcenter.simulate.twilio_gateway import TwilioGateway

Gateway = TwilioGateway | GenericGateway | AsteriskGateway
ARI_CONNECT_SECONDS = 30.0


async def start_gateway(
    kind: str,
    options: RunOptions,
    session: aiohttp.ClientSession,
    ledger: Ledger,
    *,
    api: ServerApi,
    run_id: str,
    clock: Callable[[], float],
    on_connect: Callable[[str, str], None],
    callbacks: CallbackCalls | None,
) -> Gateway:
    """The gateway, serving what it serves. Raises RunFailed when it cannot (a port taken,
    the server never connecting to our ARI)."""
    if kind == "twilio":
        assert callbacks is not None
        twilio = TwilioGateway(
            session,
            ledger,
            server_url=options.server_url,
            public_url=options.public_url or options.server_url,
            account_sid=options.twilio_account_sid,
            auth_token=options.twilio_auth_token,
            api_host=options.twilio_api_host,
            api_port=options.twilio_api_port,
            clock=clock,
            on_connect=on_connect,
            on_callback=callbacks.heard,
            callback_answers=callbacks.answers,
            callback_talk=callbacks.talk,
        )
        await _serve(twilio, "the Twilio API", "--twilio-api-port")
        return twilio
    if kind == "asterisk":
        return await _asterisk(options, ledger, on_connect)
    token = await api.issue_token("gateway", f"simulator {run_id}")
    return GenericGateway(api, ledger, token=token, secret=options.webhook_secret)


async def _asterisk(
    options: RunOptions, ledger: Ledger, on_connect: Callable[[str, str], None]
) -> AsteriskGateway:
    asterisk = AsteriskGateway(
        ledger,
        host=options.ari_host,
        port=options.ari_port,
        app=options.ari_app,
        username=options.ari_user,
        password=options.ari_password,
        on_connect=on_connect,
    )
    await _serve(asterisk, "ARI", "--ari-port")
    if not await asterisk.wait_connected(ARI_CONNECT_SECONDS):
        await asterisk.stop()
        raise RunFailed(
            f"the server did not connect to our ARI on {asterisk.api_url} within "
            f"{ARI_CONNECT_SECONDS:.0f} s: start it with CALLCENTER_ASTERISK_ARI_URL="
            f"{asterisk.api_url} and the same CALLCENTER_ASTERISK_ARI_USER / _PASSWORD"
        )
    return asterisk


async def _serve(gateway: TwilioGateway | AsteriskGateway, what: str, flag: str) -> None:
    try:
        await gateway.start()
    except OSError as error:
        raise RunFailed(
            f"cannot serve {what} on {gateway.api_url}: {error.strerror} (choose another {flag})"
        ) from None
