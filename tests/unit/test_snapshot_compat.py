"""Which memory snapshots a worker may restore: the same runsc build, and every CPU feature."""

from squall.runtime.base import restore_mismatch

V = "runsc version 0.0~20240729.0"


def test_same_build_and_a_cpu_with_more_features_restores():
    assert restore_mismatch(V, ["sse2", "avx2"], V, ["sse2", "avx2", "avx512f"]) == ""


def test_another_build_is_named():
    why = restore_mismatch(V, [], "runsc version 0.0~20250101.0", [])
    assert "20240729" in why and "20250101" in why


def test_missing_cpu_features_are_named():
    why = restore_mismatch(V, ["sse2", "avx2", "avx512f"], V, ["sse2"])
    assert why == "this worker's CPU lacks features it was taken with: avx2, avx512f"


def test_a_worker_without_gvisor_is_refused():
    assert "no gVisor" in restore_mismatch(V, [], "", [])


def test_another_platform_is_named():
    why = restore_mismatch(V, [], V, [], "systrap", "ptrace")
    assert why == "it was taken on gVisor's systrap platform, this worker runs ptrace (SQUALL_GVISOR_PLATFORM)"
    assert restore_mismatch(V, [], V, [], "ptrace", "ptrace") == ""
