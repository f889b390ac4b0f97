"""Specific, user-readable errors for opening and querying an analyst's database."""

from engine.errors import EngramError


class DatabaseError(EngramError):
    """Base for every database failure."""


class DatabaseNotFound(DatabaseError):
    pass


class NotAFile(DatabaseError):
    pass


class EmptyDatabaseFile(DatabaseError):
    pass


class NotADatabase(DatabaseError):
    pass


class CorruptDatabase(DatabaseError):
    pass


class DatabaseLocked(DatabaseError):
    pass


class DatabasePermissionDenied(DatabaseError):
    pass


class UnsupportedDatabaseVersion(DatabaseError):
    pass


class QueryRejected(DatabaseError):
    """The SQL is not a single read-only statement (or does not parse)."""


class SQLSyntaxError(QueryRejected):
    """The text does not parse as SQL in the database's dialect."""


class QueryTimeout(DatabaseError):
    pass


class QueryFailed(DatabaseError):
    """The database raised an error while running a read-only query."""
