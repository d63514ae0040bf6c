import uuid
from datetime import datetime

from pydantic import Field

from storefront.kit.schemas import OutputModel


class FileRead(OutputModel):
    id: uuid.UUID
    filename: str = Field(description="The uploaded file's name, made safe to display.")
    content_type: str = Field(
        description="Recognised from the content.", examples=["application/pdf"]
    )
    size: int = Field(description="Bytes.")
    sha256: str = Field(description="Hex SHA-256 of the content; also its ETag.")
    created_at: datetime
