"""Notifications: e-mail the customer when something happened to their order, once."""
