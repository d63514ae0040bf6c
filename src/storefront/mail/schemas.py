"""What a job is asked to send: plain JSON, so it can travel as a job payload."""

from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue

MailTemplate = Literal["welcome", "password_reset", "report_ready"]

# RFC 5321: a path is at most 256 octets including the angle brackets.
MAX_ADDRESS_LENGTH = 254


def _check_address(value: str) -> str:
    # Whitespace or control characters would let a caller smuggle headers or recipients.
    if any(char.isspace() or not char.isprintable() for char in value):
        raise ValueError("an e-mail address cannot contain spaces or control characters")
    try:
        address = Address(addr_spec=value)
    except (ValueError, IndexError, HeaderParseError) as error:
        raise ValueError("not a valid e-mail address") from error
    if not address.username or not address.domain:
        raise ValueError("not a valid e-mail address")
    return address.addr_spec


MailAddress = Annotated[
    str, Field(min_length=3, max_length=MAX_ADDRESS_LENGTH), AfterValidator(_check_address)
]


class MailRequest(BaseModel):
    """One mail to one recipient; `context` fills the template's variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: MailAddress
    template: MailTemplate
    context: dict[str, JsonValue] = Field(default_factory=dict)
