"""Item images rendered with Pillow: upright, in sRGB, stripped of metadata, at two sizes.

Synchronous CPU work: callers run `render` in a worker thread. Only the JPEG, PNG and
WebP decoders are ever tried, and images over MAX_PIXELS are refused before decoding.
"""

from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

IMAGE_MAX_SIDE = 1200
THUMBNAIL_MAX_SIDE = 200
MAX_PIXELS = 40_000_000
DECODERS = ("JPEG", "PNG", "WEBP")
JPEG_QUALITY = 85

# Pillow's own decompression-bomb guard: it refuses outright past twice this, and
# render() refuses past it, so a tiny file cannot expand into gigabytes of pixels.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class UnreadableImage(Exception):
    """The upload is not a usable image; retrying cannot change that."""


@dataclass(frozen=True)
class Rendition:
    data: bytes
    media_type: str
    width: int
    height: int


@dataclass(frozen=True)
class Renditions:
    image: Rendition
    thumbnail: Rendition


def render(source: bytes) -> Renditions:
    try:
        with Image.open(BytesIO(source), formats=DECODERS) as original:
            pixels = original.width * original.height
            if pixels > MAX_PIXELS:
                raise UnreadableImage(f"The image has {pixels} pixels; at most {MAX_PIXELS}.")
            # JPEG only: decode straight at a reduced scale, still at least the target size.
            original.draft("RGB", (IMAGE_MAX_SIDE, IMAGE_MAX_SIDE))
            upright = ImageOps.exif_transpose(original)
            image, media_type = _to_srgb(upright)
    except UnidentifiedImageError as error:
        raise UnreadableImage("The file is not a readable JPEG, PNG or WebP image.") from error
    except Image.DecompressionBombError as error:
        raise UnreadableImage(f"The image has more than {MAX_PIXELS} pixels.") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise UnreadableImage(f"The image data is corrupt: {error}") from error
    image.thumbnail((IMAGE_MAX_SIDE, IMAGE_MAX_SIDE), Image.Resampling.LANCZOS)
    thumbnail = image.copy()
    thumbnail.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE), Image.Resampling.LANCZOS)
    return Renditions(image=_encode(image, media_type), thumbnail=_encode(thumbnail, media_type))


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _to_srgb(image: Image.Image) -> tuple[Image.Image, str]:
    """RGB for JPEG, or RGBA for PNG when the image has transparency; colours converted
    from an embedded ICC profile, because the profile itself is dropped with the rest of
    the metadata."""
    mode, media_type = ("RGBA", "image/png") if _has_alpha(image) else ("RGB", "image/jpeg")
    profile = image.info.get("icc_profile")
    if profile:
        try:
            source = ImageCms.ImageCmsProfile(BytesIO(profile))
            converted = ImageCms.profileToProfile(image, source, SRGB, outputMode=mode)
        except (ImageCms.PyCMSError, ValueError, OSError):
            converted = None  # an unusable profile: take the pixels as they are
        if converted is not None:
            return converted, media_type
    return image.convert(mode), media_type


def _encode(image: Image.Image, media_type: str) -> Rendition:
    # Savers fall back to `info` for EXIF, XMP, comments and ICC: leave them nothing.
    image.info = {}
    buffer = BytesIO()
    if media_type == "image/png":
        image.save(buffer, "PNG", optimize=True)
    else:
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return Rendition(buffer.getvalue(), media_type, image.width, image.height)
