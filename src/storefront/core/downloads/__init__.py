"""Streaming downloads: Content-Disposition, ETag and If-None-Match, single ranges."""

from storefront.core.downloads.disposition import content_disposition
from storefront.core.downloads.openapi import download_responses
from storefront.core.downloads.ranges import RangeNotSatisfiable
from storefront.core.downloads.response import (
    ObjectMissing,
    inspect_object,
    object_response,
)

__all__ = [
    "ObjectMissing",
    "RangeNotSatisfiable",
    "content_disposition",
    "download_responses",
    "inspect_object",
    "object_response",
]
