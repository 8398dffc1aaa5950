"""Classical guidance laws used as baselines and teachers.

* :mod:`hlynr.guidance.laws`: pure pursuit, PN, APN and the optimal guidance law (OGL) on the
  intercept observation;
* :mod:`hlynr.guidance.baselines`: the intercept baselines (``pure_pursuit``, ``pn``, ``apn``,
  ``ogl``, ``ogl_imm``, ``truth_pn``, ``zero``, ``constant_turn``), registered by :mod:`hlynr.builtins`;
* :mod:`hlynr.guidance.residual`: the ``residual_guidance`` wrapper (a learned correction on top
  of a baseline).
"""
