"""The traffic simulator: a client of the server that plays the gateway (Twilio or generic
webhooks, real-time caller audio) and the agents (websocket bots), from seeded scenario
files; the demo; and the queueing-theory check. It reaches the server only as a client
does: the wire (HTTP, websockets), its command line (`serve`, `rules check`, `models
verify`) and its CALLCENTER_* settings; of the server's code it imports only the leaves
(errors, settings) and shared pure pieces (the agent id pattern, the G.711 codec, YAML
with line numbers)."""
