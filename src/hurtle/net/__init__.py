"""The only code that touches the event loop, sockets, TLS and timers."""
