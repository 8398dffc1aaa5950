"""``hlynr serve``: a live dashboard over a runs folder (REST, WebSockets and a page)."""

from hlynr.server.app import create_app

__all__ = ["create_app"]
