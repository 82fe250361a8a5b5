"""Keyset pages in time order, either way: the condition past a page's last row and the
ordering, both served by one index that ends in (created_at, id).

A keyset page reads the `limit` rows after a position instead of skipping an offset, so
the hundredth page costs what the first does (legacy: `SMELL(unbounded-list)`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, tuple_

Position = tuple[Any, Any]  # (created_at, id) of the last row of a page


def past(
    at: ColumnElement[Any], row_id: ColumnElement[Any], position: Position, oldest_first: bool
) -> ColumnElement[bool]:
    """The rows after `position` in the page's order."""
    # a row-value comparison, not `at < when OR (at = when AND id < last)`: PostgreSQL
    # seeks the index to the position with it, where with the OR it reads the index from
    # the first row and filters, so a deep page would cost as many rows as lie before it
    if oldest_first:
        return tuple_(at, row_id) > tuple_(*position)
    return tuple_(at, row_id) < tuple_(*position)


def ordering(
    at: ColumnElement[Any], row_id: ColumnElement[Any], oldest_first: bool
) -> tuple[ColumnElement[Any], ...]:
    """The ORDER BY of such a page."""
    if oldest_first:
        return at.asc(), row_id.asc()
    return at.desc(), row_id.desc()
