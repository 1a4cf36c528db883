"""``python -m nbmlops``: same as the ``nbmlops`` console script."""

from nbmlops.cli import main

if __name__ == "__main__":
    main()
