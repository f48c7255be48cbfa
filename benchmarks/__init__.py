"""Benchmarks for imagej-n2v: speed and memory against the seed's way and the network alone.

Run with ``python -m benchmarks.run`` (``make bench``); see ``benchmarks/results.md``.
"""
