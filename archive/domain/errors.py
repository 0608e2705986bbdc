"""Errors that carry the exit code DESIGN.md assigns to them.

0 success, 1 a problem found (failed check, failed verification), 2 bad usage or input,
3 a required service unavailable.
"""

from __future__ import annotations


class CustodyError(Exception):
    """Base of every error custody reports to a person."""

    exit_code = 2
    code = "error"

    def __init__(self, message: str, *, subject: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.subject = subject

    def to_dict(self) -> dict:
        d = {"error": self.code, "message": self.message}
        if self.subject:
            d["subject"] = self.subject
        return d


class InputError(CustodyError):
    """Bad usage or input: exit 2."""

    code = "bad-input"


class DuplicateItem(InputError):
    """The same bytes with the same description are already an item."""

    code = "duplicate-item"

    def __init__(self, existing_id: str) -> None:
        super().__init__(f"already archived as item {existing_id}", subject=existing_id)
        self.existing_id = existing_id


class ConfigError(InputError):
    code = "bad-config"

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}", subject=file)
        self.file = file
        self.key = key
        self.problem = problem


class NotFound(InputError):
    code = "not-found"


class ServiceUnavailable(CustodyError):
    """A backend or service could not be reached: exit 3."""

    exit_code = 3
    code = "service-unavailable"

    def __init__(self, service: str, endpoint: str, reason: str) -> None:
        super().__init__(f"{service} unreachable at {endpoint}: {reason}", subject=endpoint)
        self.service = service
        self.endpoint = endpoint


class CatalogLost(CustodyError):
    """The catalog is empty over a store that holds an archive: exit 3, never 'no items'."""

    exit_code = 3
    code = "catalog-lost"


class ProblemFound(CustodyError):
    """A check failed: exit 1."""

    exit_code = 1
    code = "problem"


class WormViolation(CustodyError):
    """An operation the write-once store refuses (overwrite, early delete, shortening)."""

    exit_code = 1
    code = "worm-refused"


class LockNotConfirmed(CustodyError):
    """The store could not prove the lock it was asked for; fail closed."""

    exit_code = 1
    code = "lock-not-confirmed"


class StorageFull(CustodyError):
    exit_code = 3
    code = "storage-full"


class IdentityError(CustodyError):
    """The acting OS account is no registered, enabled person, or its key does not match."""

    exit_code = 2
    code = "identity-refused"
