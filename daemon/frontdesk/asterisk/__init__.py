"""Adapters to Asterisk 22: ARI, AMI and FastAGI over asyncio."""
