"""Which SMTP failures are worth a retry.

A 5xx answer to this message's envelope or content is permanent (RFC 5321 §4.2.1).
Anything about our session rather than the message — unreachable or slow server, a 4xx,
refused credentials or greeting, a missing extension — is transient: it heals when the
server or the configuration does, and the job's back-off gives it that time.
"""

from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectResponseError,
    SMTPHeloError,
    SMTPNotSupported,
    SMTPRecipientsRefused,
    SMTPResponseException,
)

from storefront.mail.errors import MailError, PermanentMailError, TransientMailError

FIRST_PERMANENT_CODE = 500


def classify(error: Exception, *, destination: str) -> MailError:
    if isinstance(error, SMTPRecipientsRefused):
        answers = [(refusal.code, refusal.message) for refusal in error.recipients]
        return _refused(answers, destination)
    if isinstance(error, SMTPAuthenticationError | SMTPConnectResponseError | SMTPHeloError):
        return TransientMailError(
            f"SMTP {destination} refused the session: {error.code} {error.message}"
        )
    if isinstance(error, SMTPResponseException):
        return _refused([(error.code, error.message)], destination)
    # SMTPNotSupported comes only from the SMTPUTF8 check, ValueError from an address that
    # cannot be encoded: this message can never pass, whatever the server's mood.
    if isinstance(error, SMTPNotSupported | ValueError):
        return PermanentMailError(f"SMTP {destination} cannot take this mail: {error}")
    if isinstance(error, TimeoutError):
        return TransientMailError(f"SMTP {destination} did not answer in time")
    return TransientMailError(f"SMTP {destination} unavailable: {error}")


def _refused(answers: list[tuple[int, str]], destination: str) -> MailError:
    detail = f"SMTP {destination} refused the mail: " + "; ".join(
        f"{code} {message}" for code, message in answers
    )
    if all(code >= FIRST_PERMANENT_CODE for code, _ in answers):
        return PermanentMailError(detail)
    return TransientMailError(detail)
