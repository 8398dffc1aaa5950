"""Classical guidance laws used as baselines and teachers.

* :mod:`hlynr.guidance.laws`: pure pursuit, PN and APN on the intercept observation;
* :mod:`hlynr.guidance.baselines`: the intercept baselines (``pure_pursuit``, ``pn``, ``apn``,
  ``truth_pn``, ``zero``, ``constant_turn``), registered by :mod:`hlynr.builtins`;
* :mod:`hlynr.guidance.residual`: the ``residual_guidance`` wrapper (a learned correction on top
  of a baseline).
"""
