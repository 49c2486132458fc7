"""Sans-I/O protocol logic: bytes in, events out. Imports no asyncio, socket, ssl or time."""
