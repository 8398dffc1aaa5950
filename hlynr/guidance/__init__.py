"""Classical guidance laws used as baselines and teachers.

Importing ``hlynr.guidance`` registers the Intercept baselines (``pure_pursuit``, ``pn``,
``apn``, ``truth_pn``) in :data:`hlynr.guidance.registry.BASELINES`.
"""

from hlynr.guidance import baselines  # noqa: F401  (registers the baselines)
