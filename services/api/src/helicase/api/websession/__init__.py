"""The composer's sign-in: a session cookie bound server-side to the caller's API key (or JWT),
stored in PostgreSQL so that every api replica honours it (see docs/security.md, "The composer
and the HTTP port")."""

from helicase.api.websession.service import Credential, SessionService
from helicase.api.websession.store import SessionStore

__all__ = ["Credential", "SessionService", "SessionStore"]
