"""``python -m nbmlops.cli``: the console script without relying on the installed entry point."""

from nbmlops.cli import main

if __name__ == "__main__":
    main()
