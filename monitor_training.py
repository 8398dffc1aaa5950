#!/usr/bin/env python
"""Watch a training run: ``python monitor_training.py [RUN] [--watch S] [--json] [--plot F.png]``."""

from hlynr.cli.common import entry
from hlynr.cli.monitor import main

if __name__ == "__main__":
    entry(main)
