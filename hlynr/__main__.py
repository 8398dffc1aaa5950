"""``python -m hlynr COMMAND ARGS``: the same as the ``hlynr`` console script."""

from hlynr.cli import main

main()
