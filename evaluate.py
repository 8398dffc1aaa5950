#!/usr/bin/env python
"""Score checkpoints and baselines: ``python evaluate.py RUN_OR_MODEL`` (see ``--help``)."""

from hlynr.cli.common import entry
from hlynr.cli.evaluate import main

if __name__ == "__main__":
    entry(main)
