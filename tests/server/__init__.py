"""Tests of the run-folder control channel, the run lock and the dashboard server."""
