"""Bases for request and response schemas."""

from pydantic import BaseModel, ConfigDict


class InputModel(BaseModel):
    """A request body: unknown fields are refused (422), so nothing can be mass-assigned."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutputModel(BaseModel):
    """A response body, read from ORM objects by attribute."""

    model_config = ConfigDict(from_attributes=True)
