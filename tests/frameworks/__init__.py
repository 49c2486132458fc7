"""Real frameworks served by a real hurtle process (one module per framework)."""
