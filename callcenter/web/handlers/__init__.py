"""Request handlers: parse, call a service, serialise."""
