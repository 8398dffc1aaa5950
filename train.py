#!/usr/bin/env python
"""Train from a YAML config: ``python train.py --config FILE`` (see ``--help``)."""

from hlynr.cli.common import entry
from hlynr.cli.train import main

if __name__ == "__main__":
    entry(main)
