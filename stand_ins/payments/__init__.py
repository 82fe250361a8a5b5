"""A card-payment provider stand-in: charges, refunds and idempotency keys over HTTP, kept in SQLite."""
