"""Benchmarks of the MintNet backbone; run ``python -m benchmarks`` (``--quick`` for a smoke run).

Every speed number is a ratio or a rate measured in one process, with the compared variants run
round-robin and summarised by medians, because the machines this runs on are shared and noisy.
"""
