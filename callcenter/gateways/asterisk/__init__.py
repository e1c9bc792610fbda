"""The Asterisk dialect: the server runs as an ARI (Asterisk REST Interface) application.
ari_events decodes the events websocket's frames and maps them to canonical events;
ari_rest is the REST API; ari_calls is call control (hold, ring the agent, bridge, tear
down) and the RouteNotifier of Asterisk calls; ari_client keeps the websocket connected.
Live audio comes in over AudioSocket (callcenter.media.audiosocket)."""
