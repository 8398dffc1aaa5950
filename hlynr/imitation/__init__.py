"""Learning from a teacher: behavioural cloning, DAgger, critic warm-up, a fine-tuning regulariser.

A teacher is any registered baseline (:data:`hlynr.registries.BASELINES`); it acts on the
task-level observation, the student learns on its own processed observation. The run uses
:func:`~hlynr.imitation.pretrain.run_pretraining` before RL when the config has ``pretrain:``.
"""
