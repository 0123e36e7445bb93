"""Test kit shared by tests/ and benchmarks/ (plain Python: no pytest import)."""
