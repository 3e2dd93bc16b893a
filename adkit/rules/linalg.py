"""numpy.linalg: rules for matrix functions (filled in by the linalg work)."""
