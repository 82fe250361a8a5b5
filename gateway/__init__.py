"""The routing gateway: moves traffic between legacy and extracted upstreams, route by route."""
