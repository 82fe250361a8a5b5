"""Metric-gated rollouts: a route (or a group of routes) walks a list of canary weights, each
step held for an interval and passed only when its gates (parity, errors, latency) pass;
failed gates roll it back to legacy. Read gateway/README.md, "Rollouts"."""
