"""Email out through an SMTP relay."""
