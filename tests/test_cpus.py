"""The CPUs the suite may use (its worker count, its threads): the affinity, capped by a cgroup quota
(v2 and v1 files as the kernel writes them)."""

import os

import pytest

from tests import helpers


@pytest.mark.parametrize(
    ("v2", "expected"),
    [("max 100000\n", None), ("200000 100000\n", 2), ("150000 100000\n", 2), ("50000 100000\n", 1)],
)
def test_a_cgroup_v2_quota_in_whole_cpus(tmp_path, v2, expected):
    (tmp_path / "cpu.max").write_text(v2)
    assert helpers.cpu_quota(v2=tmp_path / "cpu.max", v1=(tmp_path / "none", tmp_path / "none")) == expected


@pytest.mark.parametrize(("limit", "expected"), [("-1\n", None), ("400000\n", 4), ("250000\n", 3)])
def test_a_cgroup_v1_quota_in_whole_cpus(tmp_path, limit, expected):
    (tmp_path / "quota").write_text(limit)
    (tmp_path / "period").write_text("100000\n")
    assert helpers.cpu_quota(v2=tmp_path / "absent", v1=(tmp_path / "quota", tmp_path / "period")) == expected


def test_no_cgroup_files_means_no_quota(tmp_path):
    assert helpers.cpu_quota(v2=tmp_path / "a", v1=(tmp_path / "b", tmp_path / "c")) is None


def test_usable_is_the_affinity_capped_by_the_quota(monkeypatch):
    affinity = len(os.sched_getaffinity(0))
    monkeypatch.setattr(helpers, "cpu_quota", lambda: None)
    assert helpers.usable_cpus() == affinity
    monkeypatch.setattr(helpers, "cpu_quota", lambda: 1)
    assert helpers.usable_cpus() == 1
    monkeypatch.setattr(helpers, "cpu_quota", lambda: affinity + 8)
    assert helpers.usable_cpus() == affinity
