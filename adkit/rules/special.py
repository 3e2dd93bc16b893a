"""scipy.special: rules for special functions, loaded on first use (filled in by the special-functions work)."""
