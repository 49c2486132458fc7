"""`python -m hurtle`: the same as the `hurtle` command."""

from hurtle.cli import main

if __name__ == "__main__":
    main()
