"""The generic dialect: canonical JSON events signed with HMAC, and the signed `route.*`
webhooks we send back to the gateway."""
