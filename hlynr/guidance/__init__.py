"""Classical guidance laws used as baselines and teachers.

Importing ``hlynr.guidance`` registers the Intercept baselines (``pure_pursuit``, ``pn``,
``apn``, ``truth_pn``) in :data:`hlynr.guidance.registry.BASELINES` and the
``residual_guidance`` wrapper (a learned correction on top of a baseline).
"""

from hlynr.guidance import baselines  # noqa: F401  (registers the baselines)
from hlynr.guidance import residual  # noqa: F401  (registers the residual_guidance wrapper)
