"""frontdesk: answers a medical practice's calls on its own Asterisk and routes them."""

__version__ = "0.1.0"
