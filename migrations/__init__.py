"""The shop's schema history (Alembic) and the tools around it: backfill, preconditions, fingerprints."""
