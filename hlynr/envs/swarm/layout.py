"""The per-agent observation layout of ``hlynr/Swarm-v0``: the one place env and baselines share.

Every agent row is a flat ``float32`` vector of :func:`obs_size` entries, all scaled to roughly
``[-1, 1]`` and clipped to ``[-OBS_CLIP, OBS_CLIP]``. Positions are metres, velocities m/s, then
divided by the scales below. "world" vectors are in the world frame (defended zone centred at the
origin, threat axis +x); "body" vectors are in the agent's velocity frame ``(forward, left)``,
which makes the relative geometry rotation invariant for a shared policy. A row of all zeros
means "no agent here": an inactive slot (``n_agents < max_agents``) or
an agent lost to a crash or fuel exhaustion (black death).

Own state (always present for a live agent)::

    active        1.0 for a live agent
    pos (2)       own position (world) / POS_SCALE
    vel (2)       own velocity (world) / OWN_SPEED_SCALE
    speed         own speed / OWN_SPEED_SCALE
    fuel          fuel fraction in [0, 1]
    time          elapsed time / episode time limit
    zone_rel (2)  zone centre - own position (body) / POS_SCALE

Target track (zeros when the agent holds no valid track; the track is the agent's own Kalman
estimate, fed by its own detections, ground-radar cues and teammates' detections in comms range)::

    trk_valid     1.0 when a track is held
    trk_rel_pos   (estimated target - own) position (body) / REL_SCALE
    trk_vel       estimated target velocity (body) / TARGET_SPEED_SCALE
    trk_rel_vel   (estimated target - own) velocity (body) / TARGET_SPEED_SCALE
    trk_range     estimated range / REL_SCALE
    trk_closing   closing speed / TARGET_SPEED_SCALE (positive when closing)
    trk_los_rate  line-of-sight rate (rad/s) * LOS_RATE_SCALE
    trk_pos       estimated target position (world) / POS_SCALE
    trk_cross     signed offset of the agent from the estimated track line / REL_SCALE (+ = left
                  of the track, looking along the target's velocity)
    trk_lead (2)  unit vector (body) to the closest point of the estimated track ahead of the
                  target (to the target itself once the agent is behind it)
    src_own       1.0 if the agent detected the target itself this step
    src_radar     1.0 if a ground-radar cue arrived this step
    src_shared    1.0 if a teammate in comms range shared a detection this step
    trk_age       time since the last track update / track timeout

K nearest live teammates within comms range (nearest first; unused slots are zeros), per mate::

    valid, rel_pos (2, body) / COMMS_SCALE, rel_vel (2, body) / OWN_SPEED_SCALE
"""

from __future__ import annotations

from hlynr.envs.fields import field_slices
from hlynr.registries import EntityLayout

POS_SCALE = 10_000.0
REL_SCALE = 5_000.0
COMMS_SCALE = 3_000.0
OWN_SPEED_SCALE = 300.0
TARGET_SPEED_SCALE = 2_000.0
LOS_RATE_SCALE = 10.0
OBS_CLIP = 10.0

OWN_FIELDS: tuple[tuple[str, int], ...] = (
    ("active", 1), ("pos", 2), ("vel", 2), ("speed", 1), ("fuel", 1), ("time", 1), ("zone_rel", 2),
)
TRACK_FIELDS: tuple[tuple[str, int], ...] = (
    ("trk_valid", 1), ("trk_rel_pos", 2), ("trk_vel", 2), ("trk_rel_vel", 2), ("trk_range", 1),
    ("trk_closing", 1), ("trk_los_rate", 1), ("trk_pos", 2), ("trk_cross", 1), ("trk_lead", 2),
    ("src_own", 1), ("src_radar", 1),
    ("src_shared", 1), ("trk_age", 1),
)
MATE_FIELDS: tuple[tuple[str, int], ...] = (("valid", 1), ("rel_pos", 2), ("rel_vel", 2))
_MATE, MATE_SIZE = field_slices(MATE_FIELDS)


SL, BASE_SIZE = field_slices(OWN_FIELDS + TRACK_FIELDS)
"""Slices of the own-state and track fields in an observation row, by field name; the number of
entries before the teammate block."""


def obs_size(k_neighbours: int) -> int:
    """Length of one observation row for ``k_neighbours`` teammate slots."""
    return BASE_SIZE + k_neighbours * MATE_SIZE


def mate_slice(k: int, field: str) -> slice:
    """Slice of ``field`` (``valid``/``rel_pos``/``rel_vel``) of the ``k``-th teammate slot."""
    sl, _ = field_slices(MATE_FIELDS, BASE_SIZE + k * MATE_SIZE)
    return sl[field]


def entity_layout(k_neighbours: int) -> EntityLayout | None:
    """The teammate slots as an entity layout: the own-and-track block of :data:`BASE_SIZE`
    entries, then ``k_neighbours`` slots of :data:`MATE_SIZE` with the ``valid`` flag first
    (``None`` without teammate slots)."""
    if k_neighbours < 1:
        return None
    return EntityLayout(own_size=BASE_SIZE, slot_size=MATE_SIZE, slots=k_neighbours,
                        valid_index=_MATE["valid"].start)


ACTION_SIZE = 2
"""Actions: ``[lateral, throttle]`` in ``[-1, 1]``. ``lateral`` commands acceleration perpendicular
to the velocity (positive = turn left) as a fraction of the lateral limit; ``throttle`` commands
acceleration along the velocity as a fraction of the longitudinal limit (only positive throttle
burns extra fuel)."""

TEAM_FIELDS: tuple[tuple[str, int], ...] = (("pos", 2), ("vel", 2), ("fuel", 1), ("alive", 1))
"""Per-slot fields of the team block of the global state (world frame, observation scales)."""
TEAM_SIZE = sum(n for _, n in TEAM_FIELDS)
TARGET_SIZE = 4
"""True target position / POS_SCALE (2) and velocity / TARGET_SPEED_SCALE (2)."""


def team_state_size(max_agents: int) -> int:
    """Length of the team-and-target block: ``state()`` of the env, first part of a critic row."""
    return TEAM_SIZE * max_agents + TARGET_SIZE


def critic_size(max_agents: int, k_neighbours: int) -> int:
    """Length of a critic row: team-and-target block, the agent's observation row, one-hot id.

    A slot without a live agent (inactive or lost) gets zeros in the first two parts and keeps
    its id (death masking).
    """
    return team_state_size(max_agents) + obs_size(k_neighbours) + max_agents
