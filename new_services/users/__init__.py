"""The users domain: accounts (sign-up and look-up), extracted from the legacy shop."""
