"""The run folder: the only channel between a run and the outside.

:class:`~hlynr.runs.folder.RunFolder` creates or opens a run folder, locks it
(:mod:`hlynr.runs.lock`), writes ``config.yaml``, ``versions.json`` and, whatever ends the run,
the end event and ``summary.json``. Also here: ``progress.jsonl`` (:mod:`hlynr.runs.progress_log`),
``checkpoints/step_<N>/`` (:mod:`hlynr.runs.checkpoints`), ``best/`` and ``final/`` model folders
written atomically (:mod:`hlynr.runs.artifacts`), and the control channel (:mod:`hlynr.runs.control`).
"""
