"""Benchmarks: each prints throughput and a speed ratio against a baseline measured in the same
run (machines are noisy; ratios travel better than seconds). ``python -m benchmarks`` runs all."""
