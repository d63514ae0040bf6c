from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from storefront.kit.schemas import InputModel, OutputModel
from storefront.users.schemas import VISIBLE_TEXT, CurrentPassword, EmailAddress, Password

# Our opaque secrets are 43 URL-safe characters (printable ASCII is accepted, and looked
# up); the bound keeps hostile input small.
OpaqueToken = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[!-~]+$")]


class TokenForm(BaseModel):
    """RFC 6749 §4.3 resource owner password credentials, as Swagger UI's Authorize sends them."""

    model_config = ConfigDict(extra="ignore")

    grant_type: Literal["password"] | None = None
    username: Annotated[str, StringConstraints(min_length=1, max_length=254)] = Field(
        description="The account's e-mail address."
    )
    password: CurrentPassword
    scope: str = ""
    client_id: str | None = None
    client_secret: str | None = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshRequest(InputModel):
    refresh_token: OpaqueToken


class LogoutRequest(InputModel):
    refresh_token: OpaqueToken


class PasswordResetRequest(InputModel):
    email: EmailAddress


class PasswordResetConfirm(InputModel):
    token: OpaqueToken
    new_password: Password


class Accepted(BaseModel):
    detail: str


class ApiKeyCreate(InputModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=VISIBLE_TEXT)]


class ApiKeyRead(OutputModel):
    id: int
    name: str
    prefix: str = Field(description="The key's public start, to recognise it by.")
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="When the key last authenticated a request (updated about once a minute)."
    )


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The whole key, for the X-API-Key header. Shown only this once.")
