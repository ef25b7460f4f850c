from squall.server.autoscaler import MAX_STARTING_PER_FUNCTION, ScalingPolicy, containers_to_start, desired_containers, may_scale_down
from squall.server.scheduler import WorkerCapacity, pick_worker


def test_demand_drives_scale_up_to_max():
    p = ScalingPolicy(max_containers=3)
    assert desired_containers(p, 0) == 0
    assert desired_containers(p, 1) == 1
    assert desired_containers(p, 100) == 3


def test_min_and_buffer_containers_stay_warm():
    assert desired_containers(ScalingPolicy(min_containers=2), 0) == 2
    assert desired_containers(ScalingPolicy(min_containers=1, buffer_containers=1), 0) == 2
    assert desired_containers(ScalingPolicy(buffer_containers=2), 3) == 5


def test_concurrency_packs_inputs_per_container():
    assert desired_containers(ScalingPolicy(inputs_per_container=10), 25) == 3


def test_starts_are_throttled():
    assert containers_to_start(ScalingPolicy(), 1000, active=0, starting=0) == MAX_STARTING_PER_FUNCTION
    assert containers_to_start(ScalingPolicy(), 1000, active=4, starting=4) == 0
    assert containers_to_start(ScalingPolicy(max_containers=2), 1000, active=2, starting=0) == 0


def test_scale_down_keeps_min_containers():
    assert may_scale_down(ScalingPolicy(), demand=0, active=1)
    assert not may_scale_down(ScalingPolicy(min_containers=1), demand=0, active=1)
    assert may_scale_down(ScalingPolicy(min_containers=1), demand=0, active=2)


def test_placement_picks_a_worker_that_fits():
    ws = [WorkerCapacity("a", 0.1, 1000, ("runc",)), WorkerCapacity("b", 1.5, 1000, ("runc", "gvisor"))]
    assert pick_worker(ws, 0.5, 128, "runc").worker_id == "b"
    assert pick_worker(ws, 0.5, 128, "gvisor").worker_id == "b"
    assert pick_worker(ws, 4, 128, "") is None
    assert pick_worker(ws, 0.1, 5000, "") is None


def test_measured_input_time_sizes_the_pool():
    p = ScalingPolicy()
    assert desired_containers(p, 20_000, seconds_per_input=0.0001) == 1  # drains in well under TARGET_DRAIN_S
    assert desired_containers(p, 100, seconds_per_input=1.0) == 50
    assert desired_containers(p, 3, seconds_per_input=10.0) == 3  # never more than one per input
