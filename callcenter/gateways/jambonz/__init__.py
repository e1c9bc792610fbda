"""The jambonz dialect: signed call-status webhooks mapped onto canonical call events."""
