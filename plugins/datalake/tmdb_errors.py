"""TMDB's failures by meaning, in a module of their own: the retry rules, read whenever a DAG file is
parsed, name them without loading the HTTP client that raises them (``datalake.tmdb.client``)."""

from __future__ import annotations


class TmdbError(RuntimeError):
    """TMDB answered with an error, or did not answer usefully."""

    def __init__(self, message: str, *, url: str, status: int | None = None, tmdb_code: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status
        self.tmdb_code = tmdb_code


class TmdbAuthError(TmdbError):
    """TMDB refused the credential."""


class TmdbNotFound(TmdbError):
    """The requested resource does not exist on TMDB."""
