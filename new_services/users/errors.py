"""What the users service answers instead of a user, as problems (platform/problems.py).

On v1 paths a problem takes the legacy shape, its slug with underscores
(`user-not-found` is `{"error": "user_not_found", ...}`, platform/v1.py).

Problem
├── InvalidRequest   400 invalid-request (platform; v1 answers validation_error itself)
├── UserNotFound     404 user-not-found
└── EmailTaken       409 email-taken     (whatever the case it was given in)
"""

from __future__ import annotations

from new_services.platform.problems import Problem


class UserNotFound(Problem):
    status, slug, title = 404, "user-not-found", "No such user"


class EmailTaken(Problem):
    """An account has this e-mail address already; addresses are kept lower-cased, so
    `Ada@Example.com` and `ada@example.com` are one address."""

    status, slug, title = 409, "email-taken", "A user with this e-mail already exists"
