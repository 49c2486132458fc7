"""The ASGI side of hurtle, written once for every protocol version."""
