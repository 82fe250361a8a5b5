"""The kit's command line and local runner: start the stack, seed it, walk through it."""
