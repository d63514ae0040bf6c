"""Why a mail could not go out, split by whether trying again can help.

The job that sends a mail retries a `TransientMailError` with back-off and gives up at once
on a `PermanentMailError`; both are logged, so no mail is lost silently.
"""


class MailError(Exception):
    """A mail could not be rendered or delivered."""


class PermanentMailError(MailError):
    """Retrying cannot help: the server rejected this message, or it cannot be built."""


class TransientMailError(MailError):
    """Worth retrying: the server was unreachable, slow, busy, or refused our session."""


class MailTemplateError(PermanentMailError):
    """A template is missing, broken, or its context lacks a variable it uses."""
