"""Mailgun's inbound routes (a forwarded email as a signed form post)."""
