"""hlynr's RecurrentPPO: a faster, numerically identical drop-in for sb3-contrib's RecurrentPPO."""

from hlynr.algos.recurrent_ppo.buffers import (
    FastRecurrentDictRolloutBuffer,
    FastRecurrentRolloutBuffer,
)
from hlynr.algos.recurrent_ppo.policies import (
    CnnLstmPolicy,
    FastRecurrentActorCriticCnnPolicy,
    FastRecurrentActorCriticPolicy,
    FastRecurrentMultiInputActorCriticPolicy,
    MlpLstmPolicy,
    MultiInputLstmPolicy,
)
from hlynr.algos.recurrent_ppo.ppo_recurrent import RecurrentPPO

__all__ = [
    "CnnLstmPolicy",
    "FastRecurrentActorCriticCnnPolicy",
    "FastRecurrentActorCriticPolicy",
    "FastRecurrentDictRolloutBuffer",
    "FastRecurrentMultiInputActorCriticPolicy",
    "FastRecurrentRolloutBuffer",
    "MlpLstmPolicy",
    "MultiInputLstmPolicy",
    "RecurrentPPO",
]
