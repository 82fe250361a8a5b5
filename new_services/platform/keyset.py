"""Keyset pages in time order, either way: the condition past a page's last row and the
ordering, both served by one index that ends in (created_at, id).

A keyset page reads the `limit` rows after a position instead of skipping an offset, so
the hundredth page costs what the first does (legacy: `SMELL(unbounded-list)`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_

Position = tuple[Any, Any]  # (created_at, id) of the last row of a page


def past(
    at: ColumnElement[Any], row_id: ColumnElement[Any], position: Position, oldest_first: bool
) -> ColumnElement[bool]:
    """The rows after `position` in the page's order."""
    when, last = position
    if oldest_first:
        return or_(at > when, and_(at == when, row_id > last))
    return or_(at < when, and_(at == when, row_id < last))


def ordering(
    at: ColumnElement[Any], row_id: ColumnElement[Any], oldest_first: bool
) -> tuple[ColumnElement[Any], ...]:
    if oldest_first:
        return at.asc(), row_id.asc()
    return at.desc(), row_id.desc()
