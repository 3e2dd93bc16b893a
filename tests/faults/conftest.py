"""Fault-injection tests: each injects one fault (a stalled rank, a killed parent, a crafted file,
a hostile expression) and asserts a bounded, clear outcome. Long variants carry the `thorough`
marker and run with `python -m pytest -m thorough`."""
