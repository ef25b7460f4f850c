"""How many containers a function should have: pure arithmetic, unit-tested on its own."""

from __future__ import annotations

import dataclasses
import math

# How many containers of one function may be starting at once; the rest wait their turn,
# so a burst of inputs does not fork a thundering herd onto one machine.
MAX_STARTING_PER_FUNCTION = 4
# With a measured time per input, start only as many containers as drain the backlog in about
# this long: a map of 20,000 one-millisecond inputs needs a few containers, not a hundred.
TARGET_DRAIN_S = 2.0


@dataclasses.dataclass(frozen=True)
class ScalingPolicy:
    min_containers: int = 0
    max_containers: int = 0  # 0: no limit but the cluster's capacity
    buffer_containers: int = 0
    inputs_per_container: int = 1  # @concurrent max_inputs or @batched max_batch_size


def desired_containers(policy: ScalingPolicy, demand: int, seconds_per_input: float | None = None) -> int:
    """demand: inputs waiting or running. Buffer containers stay idle on top of demand.

    seconds_per_input: how long one input has been taking (None until measured)."""
    per = max(1, policy.inputs_per_container)
    needed = math.ceil(demand / per)
    if seconds_per_input is not None and demand:
        needed = max(1, min(needed, math.ceil(demand * seconds_per_input / (per * TARGET_DRAIN_S))))
    desired = max(policy.min_containers, needed)
    if demand > 0 or policy.min_containers > 0:
        desired += policy.buffer_containers
    if policy.max_containers:
        desired = min(desired, policy.max_containers)
    return desired


def containers_to_start(policy: ScalingPolicy, demand: int, active: int, starting: int, seconds_per_input: float | None = None) -> int:
    want = desired_containers(policy, demand, seconds_per_input) - active
    return max(0, min(want, MAX_STARTING_PER_FUNCTION - starting))


def may_scale_down(policy: ScalingPolicy, demand: int, active: int) -> bool:
    """Whether one idle container may stop without going under what the policy wants."""
    return active - 1 >= desired_containers(policy, demand)
