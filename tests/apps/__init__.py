"""ASGI apps that the end-to-end tests serve through a real hurtle."""
