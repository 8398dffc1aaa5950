"""The run folder: the only channel between a run and the outside.

``config.yaml``, ``versions.json``, ``progress.jsonl`` (:mod:`hlynr.runs.progress_log`),
``checkpoints/step_<N>/`` (:mod:`hlynr.runs.checkpoints`), ``best/`` and ``final/`` model folders
written atomically (:mod:`hlynr.runs.artifacts`), and ``summary.json``.
"""
