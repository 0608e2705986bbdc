"""Errors that carry the exit code DESIGN.md assigns to them.

0 success, 1 a problem found (failed check, failed verification), 2 bad usage or input,
3 a required service unavailable.
"""

from __future__ import annotations

from i18n import N_, Text


class CustodyError(Exception):
    """Base of every error custody reports to a person.

    The message is an English template marked for the catalogs, filled from keyword
    parameters — ``InputError(N_("{path}: not a regular file"), path=p)`` — so that the face
    shows it in the reader's language (``i18n.localize(exc)``) while ``message``, logs and
    ``--json`` keep the stable English text. A ready ``Text`` is taken as it is.
    """

    exit_code = 2
    code = "error"

    def __init__(self, message: str | Text, *, subject: str | None = None,
                 **params: object) -> None:
        self.text = message if isinstance(message, Text) else Text(message, **params)
        self.message = str(self.text)
        super().__init__(self.message)
        self.subject = subject

    def to_dict(self) -> dict:
        """``message`` in English (stable for machines), ``text`` in the reader's language."""
        from i18n import localize

        d = {"error": self.code, "message": self.message, "text": localize(self)}
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
        super().__init__(N_("already archived as item {item}"), subject=existing_id,
                         item=existing_id)
        self.existing_id = existing_id


class ConfigError(InputError):
    code = "bad-config"

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(N_("{file}: {key}: {problem}"), subject=file, file=file, key=key,
                         problem=problem)
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
        super().__init__(N_("{service} unreachable at {endpoint}: {reason}"), subject=endpoint,
                         service=service, endpoint=endpoint, reason=reason)
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
