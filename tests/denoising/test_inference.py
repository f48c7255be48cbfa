"""The denoise pipeline's plumbing: prefetching keeps order, errors arrive in plane order."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from imagej_n2v.denoising.inference import prefetch


def test_prefetch_gives_results_in_order_from_another_thread():
    threads = set()

    def work(n):
        threads.add(threading.current_thread().name)
        return n * n

    with ThreadPoolExecutor(1, thread_name_prefix="test-prefetch") as executor:
        results = list(prefetch(executor, (lambda n=n: work(n) for n in range(10)), ahead=3))
    assert results == [n * n for n in range(10)]
    assert all(name.startswith("test-prefetch") for name in threads)


def test_an_earlier_stage_failing_comes_after_the_results_before_it():
    def calls():
        for n in range(5):
            yield lambda n=n: n
        raise ValueError("plane 6 is broken")

    taken = []
    with ThreadPoolExecutor(1) as executor, pytest.raises(ValueError, match="plane 6"):
        for result in prefetch(executor, calls(), ahead=3):
            taken.append(result)
    assert taken == [0, 1, 2, 3, 4]


def test_no_more_than_ahead_calls_are_started_before_the_first_result_is_taken():
    submitted = []

    def calls():
        for n in range(10):
            submitted.append(n)
            yield lambda n=n: n

    with ThreadPoolExecutor(4) as executor:
        results = prefetch(executor, calls(), ahead=2)
        assert next(results) == 0
        assert submitted == [0, 1, 2]  # the one taken and two ahead: memory stays bounded
        assert list(results) == list(range(1, 10))
