"""Errors of the training layer."""

from __future__ import annotations


class RunError(Exception):
    """A run could not start or continue; ``str()`` is the complete user-facing message."""
