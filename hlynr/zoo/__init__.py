"""RL Zoo hyperparameter files as they are: translated into hlynr's validated config.

``python train.py --zoo hyperparams/ppo.yml --env CartPole-v1`` runs a Zoo entry; a hlynr config
with a ``zoo: {file: ..., env: ...}`` key starts from one and overrides any value. Python
expression strings are parsed over a whitelist of the AST, never evaluated.
"""

from hlynr.zoo.expressions import UnsupportedExpression, parse_expression
from hlynr.zoo.loader import Loaded, ZooRef, load_config, load_zoo, zoo_data
from hlynr.zoo.translate import ZOO_ALGOS, ZooEntry, ZooError, read_entry, translate

__all__ = ["Loaded", "ZOO_ALGOS", "UnsupportedExpression", "ZooEntry", "ZooError", "ZooRef", "load_config",
           "load_zoo", "parse_expression", "read_entry", "translate", "zoo_data"]
