"""Shared helpers for the rendering tests."""

from __future__ import annotations

import hlynr  # noqa: F401  (registers the built-in envs)
