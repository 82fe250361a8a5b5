"""Orders: checkout as named steps (reserve, charge, commit with its events, compensate)."""
