"""The shop's schema history (Alembic) and its tools: backfill, preconditions, fingerprints."""
