"""Payments: charges and refunds at the provider, at most once per order and per key."""
