"""The FreeSWITCH dialect: an inbound Event Socket (ESL) client whose channel events become
canonical call events.

Three layers, each usable alone. EslParser is a pure, incremental parser of what
mod_event_socket writes: a block of "Name: value" lines ended by an empty line, then exactly
Content-Length body bytes when that header is present. to_canonical / map_event_json turn one
`text/event-json` body into at most one canonical event. EslClient connects, sends
`auth <password>` and `event json ...`, hands each mapped event to `on_event` in order, and
reconnects with capped exponential backoff. ESL has no replay: what FreeSWITCH fires while we
are disconnected is lost (reservation and max-wait timers recover such calls).

The canonical call is the caller's leg, the inbound channel (`Call-Direction: inbound`);
`call_id` is its Unique-ID. `event_id` is "freeswitch:<Unique-ID>:<Event-Name>:<Event-Sequence>"
(Unique-ID is a fresh uuid per channel, so the sequence resetting at a restart is harmless):
the same event seen twice (several instances subscribed) is a duplicate.

- CHANNEL_CREATE of an inbound leg is `call.created`; with call control (gateways.
  freeswitch.calls) CHANNEL_PARK is instead, once per leg (`freeswitch:<Unique-ID>:created`):
  the dialplan decides which legs are the contact center's, and may set cc_queue first.
  Outbound legs (agent legs the switch originates, our own dial-outs) are not calls of ours.
- CHANNEL_ANSWER maps to nothing. A contact center answers the caller at once (IVR, queue,
  hold music), so the caller's answer says nothing about an agent; an agent leg's answer
  is followed by the bridge, which is the moment the two talk. It is not subscribed.
- CHANNEL_BRIDGE is `call.answered`. FreeSWITCH fires it once, on the bridging leg (the
  caller of the `bridge` app, or the first uuid of `uuid_bridge`, as mod_callcenter's
  `uuid_bridge <member> <agent>`); when that leg is inbound it is the caller and
  Bridge-B-Unique-ID (else Other-Leg-Unique-ID) is the agent's leg. A bridge fired on an
  outbound leg maps to nothing. `agent_id` is the channel variable `agent_variable` of the
  caller's leg (default `cc_agent_id`; set it before bridging), else routing's choice.
- CHANNEL_HANGUP_COMPLETE of an inbound leg is `call.ended` with the end reason of its
  Hangup-Cause (END_REASONS; any other cause is `failed`); an agent leg's end is not the
  caller's and maps to nothing."""
