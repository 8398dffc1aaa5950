#!/usr/bin/env python
"""Watch a training run: ``python monitor_training.py [RUN] [--watch S] [--json] [--plot F.png]``.

``python monitor_training.py --serve [hlynr serve options]`` starts the live dashboard instead.
"""

import sys

from hlynr.cli.common import entry

if __name__ == "__main__":
    if "--serve" in sys.argv[1:]:
        from hlynr.cli.serve import main as serve_main

        sys.argv.remove("--serve")
        entry(serve_main)
    from hlynr.cli.monitor import main

    entry(main)
