"""A card-payment provider stand-in: charges, refunds and idempotency keys, kept in SQLite."""
