"""Streaming uploads: multipart parsed as it arrives, sniffed, capped, hashed, stored."""

from storefront.core.uploads.openapi import multipart_file_body
from storefront.core.uploads.receive import Upload, receive_upload
from storefront.core.uploads.sniffing import IMAGE_TYPES, JPEG, PDF, PNG, WEBP

__all__ = [
    "IMAGE_TYPES",
    "JPEG",
    "PDF",
    "PNG",
    "WEBP",
    "Upload",
    "multipart_file_body",
    "receive_upload",
]
