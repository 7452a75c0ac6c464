"""A JPEG's header without Pillow: size from libjpeg-turbo, EXIF orientation from a walk of the markers.

Pillow's ``Image.open`` parses every header segment in Python (its quantisation and Huffman
tables included); at 640x480 that is a tenth of the image's decode.  :func:`read_header`
asks libjpeg-turbo (``simplejpeg.decode_jpeg_header``) for the size and colour space, and
walks the segments before the scan only to find the EXIF one, whose orientation Pillow's
own ``Image.Exif`` reads.  It answers ``None`` wherever Pillow's reading could differ, and
the caller opens those with Pillow.
"""

from __future__ import annotations

from PIL import Image

_SOI, _SOS = b"\xff\xd8", b"\xff\xda"
EOI = b"\xff\xd9"  # end of image: a complete file ends with it
ORIENTATION_TAG = 0x0112  # the EXIF tag of the orientation


def read_header(data: bytes) -> tuple[int, int, int] | None:
    """``(width, height, EXIF orientation)`` of a complete YCbCr or grey JPEG whose pixels
    libjpeg-turbo decodes as Pillow would; ``None`` for anything else (other colour spaces,
    no end-of-image marker, a header :func:`exif_segment` leaves to Pillow, a size over
    Pillow's decompression-bomb limit, whose warning Pillow's path reports, EXIF that does not
    parse, whose error Pillow's path reports)."""
    import simplejpeg

    if not (data.startswith(_SOI) and data.endswith(EOI)):
        return None
    exif = exif_segment(data)
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    limit = Image.MAX_IMAGE_PIXELS
    if exif is None or colorspace not in ("YCbCr", "Gray") or (limit is not None and width * height > limit):
        return None
    orientation = 1
    if exif:
        try:
            tags = Image.Exif()
            tags.load(exif)
            orientation = tags.get(ORIENTATION_TAG, 1)
        except Exception:  # whatever Pillow's reader raises: its own path maps it to our errors
            return None
    return width, height, orientation


def exif_segment(data: bytes) -> bytes | None:
    """The EXIF segment of a JPEG's header, as Pillow keeps it (``b""`` if none); ``None``
    where Pillow should read the header: an XMP segment (it may hold the orientation), EXIF
    in more than one segment, a multi-picture (MPO) file, fill bytes, no start of scan."""
    exif, pos = b"", 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] != _SOS[1]:
        marker, end = data[pos + 1], pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xE1 and (exif or not data.startswith(b"Exif\x00\x00", pos + 4)):
            return None
        if marker == 0xFF or (marker == 0xE2 and data.startswith(b"MPF\x00", pos + 4)):
            return None
        exif, pos = data[pos + 4 : end] if marker == 0xE1 else exif, end
    return exif if data[pos : pos + 2] == _SOS else None
