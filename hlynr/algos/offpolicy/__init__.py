"""hlynr's SAC, TD3 and TQC: faster drop-ins for SB3's and sb3-contrib's, with the same results;
over multi-agent rows, a replay buffer of the rows with a live agent (:class:`RowReplayBuffer`)."""

from hlynr.algos.offpolicy.row_buffer import RowReplayBuffer
from hlynr.algos.offpolicy.sac import SAC
from hlynr.algos.offpolicy.td3 import TD3
from hlynr.algos.offpolicy.tqc import TQC

__all__ = ["SAC", "TD3", "TQC", "RowReplayBuffer"]
