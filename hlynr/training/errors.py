"""Errors of the training layer."""

from __future__ import annotations


class RunError(Exception):
    """A run could not start or continue, and nothing of it was written (bad input: exit code
    2); ``str()`` is the complete user-facing message."""


class RunCrashed(Exception):
    """A run ended with an unexpected error after its folder existed; its ``summary.json`` says
    ``failed`` (``crashed: ...``) and the error is the ``__cause__`` (a bug: exit code 1)."""
