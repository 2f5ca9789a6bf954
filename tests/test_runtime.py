"""runtime: usable CPUs from fake cgroup (v1, v2, hybrid) and affinity files; the thread budget is applied and restored."""
from __future__ import annotations

import pytest

from undetectable import runtime as R
from undetectable.errors import UsageError


def _tree(tmp_path, files: dict[str, str], proc: str):
    root = tmp_path / "cg"
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    pc = tmp_path / "proc_cgroup"
    tmp_path.mkdir(parents=True, exist_ok=True)
    pc.write_text(proc)
    return root, pc


def test_cgroup_v2_quota_own_and_ancestor(tmp_path):
    root, pc = _tree(tmp_path, {"cpu.max": "max 100000\n", "user.slice/job/cpu.max": "150000 100000\n",
                                "user.slice/cpu.max": "400000 100000\n"}, "0::/user.slice/job\n")
    assert R.cgroup_cpu_quota(root, pc) == pytest.approx(1.5)  # the tightest along the path
    assert R.usable_cpus(root, pc, env={}) == min(2, R.affinity_cpus())  # ⌈1.5⌉ = 2, capped by affinity


def test_cgroup_v2_unlimited_and_garbage(tmp_path):
    root, pc = _tree(tmp_path, {"cpu.max": "max 100000\n", "a/cpu.max": "garbage\n"}, "0::/a\n")
    assert R.cgroup_cpu_quota(root, pc) is None
    assert R.usable_cpus(root, pc, env={}) == R.affinity_cpus()


def test_cgroup_v1_cfs_quota(tmp_path):
    root, pc = _tree(tmp_path, {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "50000\n",
                                "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
                                "cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"},
                     "12:cpu,cpuacct:/docker/abc\n11:memory:/docker/abc\n")
    assert R.cgroup_cpu_quota(root, pc) == pytest.approx(0.5)
    assert R.usable_cpus(root, pc, env={}) == 1  # a fractional quota still gets one thread


def test_cgroup_v1_unlimited_and_hybrid_v2(tmp_path):
    root, pc = _tree(tmp_path, {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n",
                                "unified/cpu.max": "300000 100000\n"}, "1:cpu:/\n0::/\n")
    assert R.cgroup_cpu_quota(root, pc) == pytest.approx(3.0)
    root2, pc2 = _tree(tmp_path / "x", {}, "")  # nothing readable: no quota
    assert R.cgroup_cpu_quota(root2, pc2) is None


def test_env_override_and_budget(tmp_path):
    assert R.usable_cpus(env={"UNDETECTABLE_THREADS": "5"}) == 5
    for bad in ("0", "two"):
        with pytest.raises(UsageError, match="UNDETECTABLE_THREADS"):
            R.usable_cpus(env={"UNDETECTABLE_THREADS": bad})
    assert R.thread_budget(1, cpus=4, others=0) == 4 and R.thread_budget(2, cpus=4) == 1 and R.thread_budget(1, cpus=0, others=0) == 1
    assert R.worker_count(-1, cpus=3) == 3 and R.worker_count(2, cpus=3) == 2


def test_affinity_is_respected(monkeypatch):
    monkeypatch.setattr(R.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.delenv("UNDETECTABLE_THREADS", raising=False)
    assert R.affinity_cpus() == 1 and R.usable_cpus(root="/nonexistent", proc_cgroup="/nonexistent") == 1


def test_limited_threads_applies_and_restores():
    import torch
    from threadpoolctl import threadpool_info

    before = torch.get_num_threads()
    with R.limited_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpool_info())
    assert torch.get_num_threads() == before

    calls = []

    @R.with_thread_budget(workers=3)
    def work():
        calls.append(torch.get_num_threads())
        return "ok"

    assert work() == "ok" and calls == [1] and torch.get_num_threads() == before


def test_runnable_others_and_load_aware_budget(tmp_path):
    la = tmp_path / "loadavg"
    la.write_text("3.10 2.00 1.00 4/250 12345\n")
    no_tasks = tmp_path / "no-task-dir"  # own_running: 1, the reader
    assert R.runnable_others(la, samples=1, task_dir=no_tasks) == 3
    la.write_text("garbage\n")
    assert R.runnable_others(la, samples=1, task_dir=no_tasks) == 0
    assert R.runnable_others(tmp_path / "missing", samples=1, task_dir=no_tasks) == 0
    assert R.thread_budget(1, cpus=2, others=0) == 2
    assert R.thread_budget(1, cpus=2, others=1) == 1 and R.thread_budget(1, cpus=2, others=3) == 1
    assert R.thread_budget(1, cpus=16, others=3) == 13


def test_own_spinning_threads_are_not_others(tmp_path):
    """A BLAS/OpenMP pool spinning after a call is this process's own load, not a neighbour's."""
    la = tmp_path / "loadavg"
    la.write_text("3.10 2.00 1.00 3/250 12345\n")
    tasks = tmp_path / "task"
    for tid, state in ((100, "R"), (101, "R"), (102, "S")):
        (tasks / str(tid)).mkdir(parents=True)
        (tasks / str(tid) / "stat").write_text(f"{tid} (python (x)) {state} 1 2 3\n")
    assert R.own_running(tasks) == 2
    assert R.runnable_others(la, samples=1, task_dir=tasks) == 1  # 3 running, 2 of them ours
    (tasks / "101" / "stat").write_text("101 (python) S 1 2 3\n")
    assert R.runnable_others(la, samples=1, task_dir=tasks) == 2  # control: one of ours now sleeps


def test_limited_threads_sees_libraries_loaded_later():
    """The cached threadpool controller is re-made once new modules were imported."""
    import sys

    with R.limited_threads(1):
        pass
    first = R._CONTROLLER[0]
    with R.limited_threads(1):
        pass
    assert R._CONTROLLER[0] is first  # nothing imported in between: the scan is reused
    sys.modules["_undetectable_test_fake_module"] = sys  # stands in for an import that loads a native library
    try:
        with R.limited_threads(1):
            pass
        assert R._CONTROLLER[0] is not first
    finally:
        del sys.modules["_undetectable_test_fake_module"]
