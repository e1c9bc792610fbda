"""The Twilio dialect: request signatures, voice and status webhooks as canonical events,
the TwiML we answer, the REST client and notifier that dial the agent, and the binding
that ties a Media Stream to its call."""
