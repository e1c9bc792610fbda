"""Which gateway the simulator plays, by the scenario's `gateway`: Twilio (its REST API
served here, the server's webhooks called), an Asterisk (ARI served here, the server runs
its calls as an ARI application), a FreeSWITCH (the event socket served here, the server
follows and controls it) or the generic dialect (canonical events posted)."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from callcenter.simulate.api import ServerApi
from callcenter.simulate.asterisk_gateway import AsteriskGateway
from callcenter.simulate.callback_calls import CallbackCalls
from callcenter.simulate.freeswitch_gateway import FreeswitchGateway
from callcenter.simulate.generic_gateway import GenericGateway
from callcenter.simulate.ledger import Ledger
from callcenter.simulate.run_result import RunFailed, RunOptions
from callcenter.simulate.twilio_gateway import TwilioGateway

Gateway = TwilioGateway | GenericGateway | AsteriskGateway | FreeswitchGateway
PBX_CONNECT_SECONDS = 30.0


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
        await _connected(asterisk, "ARI", "CALLCENTER_ASTERISK_ARI_URL", "_ARI_USER / _PASSWORD")
        return asterisk
    if kind == "freeswitch":
        freeswitch = FreeswitchGateway(
            ledger,
            host=options.esl_host,
            port=options.esl_port,
            password=options.esl_password,
            on_connect=on_connect,
        )
        await _serve(freeswitch, "the event socket", "--esl-port")
        await _connected(
            freeswitch, "event socket", "CALLCENTER_FREESWITCH_ESL_HOST / _PORT", "_ESL_PASSWORD"
        )
        return freeswitch
    token = await api.issue_token("gateway", f"simulator {run_id}")
    return GenericGateway(api, ledger, token=token, secret=options.webhook_secret)


async def _connected(
    gateway: AsteriskGateway | FreeswitchGateway, what: str, where: str, secret: str
) -> None:
    """Raises RunFailed when the server does not connect to us in time."""
    if await gateway.wait_connected(PBX_CONNECT_SECONDS):
        return
    await gateway.stop()
    raise RunFailed(
        f"the server did not connect to our {what} on {gateway.api_url} within "
        f"{PBX_CONNECT_SECONDS:.0f} s: start it with {where} pointing here and the same "
        f"{secret}"
    )


async def _serve(
    gateway: TwilioGateway | AsteriskGateway | FreeswitchGateway, what: str, flag: str
) -> None:
    try:
        await gateway.start()
    except OSError as error:
        raise RunFailed(
            f"cannot serve {what} on {gateway.api_url}: {error.strerror} (choose another {flag})"
        ) from None
