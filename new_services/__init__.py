"""The shop's behaviour rebuilt as well-bounded services, one package per domain."""
