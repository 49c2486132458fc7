"""The built-in demo app that `make demo` and a bare `hurtle` serve."""
