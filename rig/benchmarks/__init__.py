"""Benchmarks: every module here has `run(ctx) -> dict[str, int | float]` (metric names: README "Benchmarks")."""
