"""Radar sensor model and batched Kalman tracking (pure NumPy, leading batch dimension)."""

from hlynr.tracking.kalman import CATrack, CVTrack, ca_predict, ca_update, cv_predict, cv_update
from hlynr.tracking.tracker import BatchTracker

__all__ = ["BatchTracker", "CATrack", "CVTrack", "ca_predict", "ca_update", "cv_predict", "cv_update"]
