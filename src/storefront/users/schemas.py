"""What clients send and get about users. Never a password, a hash or a token out."""

from datetime import datetime
from typing import Annotated, Self

from pydantic import AfterValidator, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from storefront.kit.schemas import InputModel, OutputModel
from storefront.mail.schemas import MailAddress
from storefront.users.models import Role

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


def _require_dotted_domain(address: str) -> str:
    domain = address.rpartition("@")[2]
    if "." not in domain.strip(".") or ".." in domain:
        raise ValueError("not a valid e-mail address")
    return address


# The mail jobs' own rule first, so every account can be written to. The pattern tells
# clients (and generated ones) the shape; the validators decide.
EmailAddress = Annotated[
    MailAddress,
    Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", json_schema_extra={"format": "email"}),
    AfterValidator(_require_dotted_domain),
]
# Spaces are part of a password: never stripped.
Password = Annotated[
    str,
    StringConstraints(
        min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH, strip_whitespace=False
    ),
]
# A password to check, not to set: any length the policy ever allowed.
CurrentPassword = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_LENGTH, strip_whitespace=False)
]
# Every character some regex engine counts as a space: `\s` differs between Python, Rust
# (pydantic) and ECMAScript (clients), so it is spelled out.
_SPACES = r"\x00-\x20\x7f-\xa0\u1680\u180e\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
# Some visible text and no control characters (a name ends up in mails).
VISIBLE_TEXT = rf"^[^\x00-\x1f\x7f]*[^{_SPACES}][^\x00-\x1f\x7f]*$"
FullName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=VISIBLE_TEXT)]


class _NoNulls(InputModel):
    """A partial update: a field left out stays as it is, and none may be set to null."""

    @model_validator(mode="after")
    def _refuse_nulls(self) -> Self:
        nulled = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulled:
            raise ValueError(f"cannot be null: {', '.join(nulled)}")
        return self


class UserCreate(InputModel):
    email: EmailAddress
    password: Password
    full_name: FullName


class UserProfileUpdate(_NoNulls):
    full_name: FullName | SkipJsonSchema[None] = None
    email: EmailAddress | SkipJsonSchema[None] = None


class UserAccessUpdate(_NoNulls):
    role: Role | SkipJsonSchema[None] = None
    is_active: bool | SkipJsonSchema[None] = None


class PasswordChange(InputModel):
    current_password: CurrentPassword
    new_password: Password


class UserRead(OutputModel):
    id: int
    email: str
    full_name: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
