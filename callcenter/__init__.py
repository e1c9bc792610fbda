"""callcenter: a contact-center server that routes, listens to and shows live calls."""

__version__ = "0.1.0"
