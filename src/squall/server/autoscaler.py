"""How many containers a function should have: pure arithmetic, unit-tested on its own."""

from __future__ import annotations

import dataclasses
import math

# How many containers of one function may be starting at once; the rest wait their turn,
# so a burst of inputs does not fork a thundering herd onto one machine.
MAX_STARTING_PER_FUNCTION = 4


@dataclasses.dataclass(frozen=True)
class ScalingPolicy:
    min_containers: int = 0
    max_containers: int = 0  # 0: no limit but the cluster's capacity
    buffer_containers: int = 0
    inputs_per_container: int = 1  # @concurrent max_inputs or @batched max_batch_size


def desired_containers(policy: ScalingPolicy, demand: int) -> int:
    """demand: inputs waiting or running. Buffer containers stay idle on top of demand."""
    needed = math.ceil(demand / max(1, policy.inputs_per_container))
    desired = max(policy.min_containers, needed)
    if demand > 0 or policy.min_containers > 0:
        desired += policy.buffer_containers
    if policy.max_containers:
        desired = min(desired, policy.max_containers)
    return desired


def containers_to_start(policy: ScalingPolicy, demand: int, active: int, starting: int) -> int:
    want = desired_containers(policy, demand) - active
    return max(0, min(want, MAX_STARTING_PER_FUNCTION - starting))


def may_scale_down(policy: ScalingPolicy, demand: int, active: int) -> bool:
    """Whether one idle container may stop without going under what the policy wants."""
    return active - 1 >= desired_containers(policy, demand)
