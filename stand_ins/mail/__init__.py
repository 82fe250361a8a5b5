"""A mail-server stand-in: a real SMTP listener that keeps every message for tests to read back."""
