"""Turning whatever the caller has (bytes, a path, a PIL image, an array) into RGB uint8 pixels.

:func:`open_image` reads only the header (a plain JPEG's without Pillow: :mod:`trt_core.jpeg`):
the size checks (the side limit, then the pixel budget: the decompression-bomb guard) run
*before* any pixel is decoded, and the EXIF orientation is known, so
:attr:`OpenedImage.width`/``height`` are the size as displayed.
Then :meth:`OpenedImage.rgb` decodes to a C-contiguous ``(H, W, 3)`` uint8 RGB array, and
:meth:`OpenedImage.pil_rgb` to a Pillow image that may come reduced by integer factors
while it stays at least a given size: JPEGs in the DCT domain (libjpeg-turbo's scaled IDCT
at 1/2, 1/4 or 1/8, so the full-size image never exists), then a box filter.

:meth:`~OpenedImage.rgb` and :meth:`~OpenedImage.reduced_rgb` decode JPEGs through
``simplejpeg`` (libjpeg-turbo's TurboJPEG API): Pillow's pixels bit for bit (unless asked
for libjpeg-turbo's fast IDCT and upsampling), full size or DCT-scaled, but straight into a
numpy array, which saves Pillow's copy out of its own storage (and is 10-15% faster than
OpenCV's ``imdecode`` at 640x480).  CMYK JPEGs, JPEGs that do not end with an end-of-image
marker (truncated, or carrying trailing data) and other formats go through Pillow, whose
errors are clear.  Unusable input raises :class:`InvalidImageError` with a message a person
can act on; images over the limits raise :class:`ImageTooLargeError`.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from trt_core.errors import ImageTooLargeError, InvalidImageError
from trt_core.jpeg import EOI, ORIENTATION_TAG, read_header

DEFAULT_MAX_PIXELS = 50_000_000
MAX_SIDE = 32_768
# EXIF orientation -> the view of the stored pixels that displays them upright (the
# transposes of ImageOps.exif_transpose; the tests check the two agree)
_ORIENT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


class OpenedImage:
    """An image whose header has been read and whose size has been checked; decode it once."""

    def __init__(
        self,
        *,
        what: str,
        pil: Image.Image | None = None,
        data: bytes | None = None,
        array: np.ndarray | None = None,
        orientation: int = 1,
        jpeg_size: tuple[int, int] | None = None,
    ) -> None:
        self.what = what
        self._pil = pil  # opened on demand when libjpeg-turbo read the header (jpeg_size)
        self._data = data  # the encoded bytes, when this module opened them (reduced decoding allowed)
        self._array = array
        self._orientation = orientation if orientation in _ORIENT else 1
        self.borrowed = array is not None  # then rgb() returns the caller's own array: never write into it
        self._turbo = jpeg_size is not None or (pil is not None and data is not None and _turbo_can_decode(pil, data))
        stored = jpeg_size or (pil.size if pil is not None else (array.shape[1], array.shape[0]))  # type: ignore[union-attr]
        self._stored, self._swap = stored, self._orientation >= 5
        self.width: int = stored[1] if self._swap else stored[0]
        self.height: int = stored[0] if self._swap else stored[1]

    def rgb(self, *, fast: bool = False) -> np.ndarray:
        """The full-size ``(H, W, 3)`` uint8 RGB pixels as displayed; ``fast``: JPEGs with
        libjpeg-turbo's fast IDCT and chroma upsampling (not Pillow's pixels bit for bit).
        A new array on each call, except for array images (:attr:`borrowed`: the caller's own)."""
        if self._array is not None:
            return self._array
        decoded = self._decode_turbo(1, fast=fast)
        if decoded is None:
            with _decoding(self.what):
                decoded = np.asarray(self._decode_pil(None)[0])
        return _orient(decoded, self._orientation)

    def reduced_rgb(self, at_least: tuple[int, int], *, fast: bool = False) -> tuple[np.ndarray, tuple[int, int]]:
        """:meth:`pil_rgb` ``(at_least)`` as a ``(H, W, 3)`` array: JPEGs reduced by 1/2, 1/4
        or 1/8 come from libjpeg-turbo straight into the array (the pixels of Pillow's
        ``draft``); other images, and JPEGs still 2x ``at_least`` at 1/8, go through Pillow."""
        stored = (at_least[1], at_least[0]) if self._swap else at_least
        size = self._stored if self._array is None else (0, 0)
        scale = max(1, min(size[0] // stored[0], size[1] // stored[1]))
        dct = next(f for f in (8, 4, 2, 1) if scale >= f)  # Pillow's draft's choice
        decoded = self._decode_turbo(dct, fast=fast)
        if decoded is None or decoded.shape[1] >= 2 * stored[0] or decoded.shape[0] >= 2 * stored[1]:
            image, factors = self.pil_rgb(at_least)
            return np.asarray(image), factors
        return _orient(decoded, self._orientation), (dct, dct)

    def pil_rgb(self, at_least: tuple[int, int] | None = None) -> tuple[Image.Image, tuple[int, int]]:
        """The RGB image as displayed, and the ``(x, y)`` factors it was reduced by.

        With ``at_least=(width, height)`` it may come reduced by integer factors ``(fx, fy)``
        to ``ceil(width / fx) x ceil(height / fy)``, never below ``at_least``: in the DCT
        domain for JPEG (the same factor on both axes), then with a box filter
        (``Image.reduce``, per axis, whatever the input kind, so that an image gives the
        same pixels as bytes, PIL image or array).
        """
        stored = (at_least[1], at_least[0]) if at_least is not None and self._swap else at_least
        if self._array is not None:
            image, dct = Image.fromarray(self._array), 1
        else:
            with _decoding(self.what):
                image, dct = self._decode_pil(stored)
        box = (1, 1) if stored is None else (max(1, image.width // stored[0]), max(1, image.height // stored[1]))
        if box != (1, 1):
            image = image.reduce(box)
        if self._orientation != 1:
            image = Image.fromarray(_orient(np.asarray(image), self._orientation))
        return image, ((dct * box[1], dct * box[0]) if self._swap else (dct * box[0], dct * box[1]))

    def _decode_turbo(self, dct: int, *, fast: bool) -> np.ndarray | None:
        """libjpeg-turbo's decode (``simplejpeg``) of our own JPEG at ``1/dct``, as stored;
        ``None`` where Pillow decodes it instead (see the module's docstring)."""
        if not self._turbo or self._data is None:
            return None
        import simplejpeg

        want = (-(-self._stored[0] // dct), -(-self._stored[1] // dct))
        try:  # not strict: corrupt data within a complete file decodes as far as it goes, as OpenCV does
            decoded = simplejpeg.decode_jpeg(
                self._data,
                "rgb",
                fastdct=fast,
                fastupsample=fast,
                min_width=want[0],
                min_height=want[1],
                strict=False,
            )
        except ValueError:  # what libjpeg-turbo cannot decode at all: Pillow says what is wrong
            return None
        return decoded if decoded.shape[1::-1] == want else None

    def _decode_pil(self, at_least: tuple[int, int] | None) -> tuple[Image.Image, int]:
        """Pillow's decode as stored, RGB, and the DCT scaling it used (our own JPEGs only)."""
        if self._pil is None:
            assert self._data is not None
            self._pil = Image.open(io.BytesIO(self._data))
        image, factor = self._pil, 1
        if at_least is not None and self._data is not None:
            full = image.size
            image.draft("RGB", at_least)  # JPEG: the largest of 1/2, 1/4, 1/8 keeping >= at_least; else a no-op
            if image.size != full:
                factor = next(f for f in (8, 4, 2) if image.size == (-(-full[0] // f), -(-full[1] // f)))
        image.seek(0)
        image.load()
        return _to_rgb_image(image), factor


def open_image(source: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> OpenedImage:
    """Read ``source``'s header (bytes, path, PIL image or array) and check its size."""
    if isinstance(source, np.ndarray):
        return OpenedImage(what="array image", array=array_to_rgb(source, max_pixels=max_pixels))
    if isinstance(source, Image.Image):
        return _checked(source, None, max_pixels, "image")
    if isinstance(source, bytes | bytearray | memoryview):
        return _open_bytes(bytes(source), max_pixels, "image")
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InvalidImageError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise InvalidImageError(f"{path} is a directory, not an image") from None
        except OSError as exc:
            raise InvalidImageError(f"cannot read {path}: {exc.strerror or exc}") from None
        return _open_bytes(data, max_pixels, str(path))
    raise InvalidImageError(
        f"unsupported image type {type(source).__name__}",
        hint="pass encoded bytes, a file path, a PIL image or an HxWx3 uint8 RGB array",
    )


def load_rgb(source: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode ``source`` to a full-size ``(H, W, 3)`` uint8 RGB array, EXIF orientation applied."""
    return open_image(source, max_pixels=max_pixels).rgb()


def check_size(width: int, height: int, *, max_pixels: int, what: str = "image") -> None:
    if width < 1 or height < 1:
        raise InvalidImageError(f"{what} has no pixels ({width}x{height})")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageTooLargeError(
            f"{what} is {width}x{height}: a side is over the limit of {MAX_SIDE:,} pixels",
            hint="split or downscale it",
        )
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{what} is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,}",
            hint="downscale it, or raise max_pixels",
        )


def array_to_rgb(array: np.ndarray, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Accept ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` RGB(A) uint8 arrays."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise InvalidImageError(f"array image must be HxW, HxWx3 or HxWx4, got shape {array.shape}")
    if array.dtype != np.uint8:
        raise InvalidImageError(
            f"array image must be uint8, got {array.dtype}", hint="convert with np.clip(a, 0, 255).astype(np.uint8)"
        )
    check_size(array.shape[1], array.shape[0], max_pixels=max_pixels, what="array image")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 4:
        array = array[:, :, :3]
    return np.ascontiguousarray(array)


def _open_bytes(data: bytes, max_pixels: int, what: str) -> OpenedImage:
    if not data:
        raise InvalidImageError(f"{what} is empty (0 bytes)")
    opened = _open_plain_jpeg(data, max_pixels, what)
    if opened is not None:
        return opened
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise InvalidImageError(
                f"{what} is not a recognised image ({len(data)} bytes, starts {data[:8]!r})",
                hint="supported: JPEG, PNG, WebP, BMP, GIF, TIFF",
            ) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLargeError(f"{what} exceeds the decompression-bomb limit ({exc})") from None
        except Exception as exc:
            raise InvalidImageError(f"cannot open {what}: {exc}") from None
    return _checked(image, data, max_pixels, what)


def _open_plain_jpeg(data: bytes, max_pixels: int, what: str) -> OpenedImage | None:
    """A plain JPEG opened without Pillow (:func:`trt_core.jpeg.read_header`); ``None`` otherwise."""
    header = read_header(data)
    if header is None:
        return None
    check_size(header[0], header[1], max_pixels=max_pixels, what=what)
    return OpenedImage(what=what, data=data, orientation=header[2], jpeg_size=header[:2])


def _checked(image: Image.Image, data: bytes | None, max_pixels: int, what: str) -> OpenedImage:
    check_size(image.width, image.height, max_pixels=max_pixels, what=what)
    with _decoding(what):  # after the size check: reading a PNG's EXIF may decode it
        orientation = image.getexif().get(ORIENTATION_TAG, 1)
    return OpenedImage(what=what, pil=image, data=data, orientation=orientation)


@contextmanager
def _decoding(what: str) -> Iterator[None]:
    """Map whatever a decoder raises to the project's errors."""
    try:
        yield
    except (InvalidImageError, MemoryError, ImportError):  # ImportError: a missing dependency, not a bad image
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(f"{what} exceeds the decompression-bomb limit") from None
    except Exception as exc:
        raise InvalidImageError(f"cannot decode {what}: {exc}", hint="the file may be truncated or corrupt") from None


def _to_rgb_image(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        gray = np.asarray(image, dtype=np.uint32)
        scale = 257 if gray.max(initial=0) <= 65535 else 16843009
        return Image.fromarray((gray // scale).astype(np.uint8)).convert("RGB")
    if mode == "F":
        return Image.fromarray(np.clip(np.asarray(image, dtype=np.float32), 0, 255).astype(np.uint8)).convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image if image.mode == "RGB" else image.convert("RGB")


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    return array if orientation == 1 else np.ascontiguousarray(_ORIENT[orientation](array))


def _turbo_can_decode(image: Image.Image, data: bytes) -> bool:
    return image.format == "JPEG" and image.mode in ("RGB", "L") and data.endswith(EOI)
