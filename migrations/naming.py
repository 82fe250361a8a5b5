"""The one naming convention for every constraint and index created after the baseline.

Alembic applies the convention of `target_metadata` to any constraint an operation leaves
unnamed, so revisions name nothing by hand and a later revision can always find what an
earlier one created. The baseline is the exception: it keeps the names the legacy app's
`create_all` gave (or the database chose), because that is what adopted databases hold.
"""

from __future__ import annotations

from sqlalchemy import MetaData

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def conventional_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)
