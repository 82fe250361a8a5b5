"""What analytics refuses. Domain errors only; each edge says them its own way.

AnalyticsError
├── InvalidEvent     a message the projection cannot read: the job fails, RQ retries it,
│                    then parks it in the failed registry (`strangler jobs failed`)
└── InvalidPeriod    a report range that is not one: v1 `400 validation_error` (legacy's
                     words), v2 `400 invalid-request` problem
"""

from __future__ import annotations


class AnalyticsError(Exception):
    pass


class InvalidEvent(AnalyticsError):
    pass


class InvalidPeriod(AnalyticsError):
    pass
