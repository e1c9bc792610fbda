"""The traffic simulator: a client of the server that plays the gateway (Twilio or generic
webhooks, real-time caller audio) and the agents (websocket bots), from seeded scenario
files; the demo; and the queueing-theory check. It uses no server internals: only the
wire (HTTP, websockets) and pure pieces (domain types, codecs, the rules loader)."""
