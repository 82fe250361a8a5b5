"""The outbox relay process: committed events onto the queues of the domains that react."""
