"""What every extracted service shares and no domain owns: errors, HTTP edge, idempotency."""
