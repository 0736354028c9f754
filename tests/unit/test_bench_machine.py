"""The benchmarks' machine probe: the C pointer chase builds, runs alone and two at once, and
reports every size it was asked for."""
from __future__ import annotations

import shutil

import pytest

from bench.machine import cache_latency


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
def test_cache_latency_reports_each_size_alone_and_together() -> None:
    latency = cache_latency((64, 256))
    assert latency is not None and sorted(latency) == [64, 256]
    for alone, together in latency.values():
        assert 0 < alone < 10_000 and 0 < together < 10_000  # ns a load: a number, not a parse slip
