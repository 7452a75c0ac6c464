"""The project's exceptions: one base class, small subclasses, each with an optional hint."""

from __future__ import annotations


class TrtDetectError(Exception):
    """Base class of every error trt-detect raises on purpose.

    ``hint`` says what the user can do about it; ``code`` is the stable, machine-readable
    name used in HTTP error bodies.
    """

    code = "error"
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} (hint: {hint})" if hint else message)


class InvalidImageError(TrtDetectError):
    """The bytes or array given as an image cannot be used."""

    code = "invalid_image"
    http_status = 400


class ImageTooLargeError(InvalidImageError):
    """The image exceeds the configured pixel budget (decompression-bomb guard)."""

    code = "image_too_large"
    http_status = 413


class InvalidRequestError(TrtDetectError):
    """A request parameter is out of range or malformed."""

    code = "invalid_request"
    http_status = 422


class ModelSpecError(TrtDetectError):
    """The ONNX model's inputs, outputs or metadata don't describe a supported detector."""

    code = "model_spec"


class ModelLoadError(TrtDetectError):
    """A model or engine file cannot be read or parsed."""

    code = "model_load"


class BackendUnavailableError(TrtDetectError):
    """The requested inference backend is not installed or has no device to run on."""

    code = "backend_unavailable"
    http_status = 503


class BackendError(TrtDetectError):
    """The inference backend failed while running."""

    code = "backend"


class EngineBuildError(TrtDetectError):
    """TensorRT could not parse the ONNX model or build an engine from it."""

    code = "engine_build"


class DarknetError(TrtDetectError):
    """A Darknet cfg or weights file is malformed or uses an unsupported feature."""

    code = "darknet"


class RequestTooLargeError(InvalidRequestError):
    """The request body exceeds the configured size limit."""

    code = "payload_too_large"
    http_status = 413


class OverloadedError(TrtDetectError):
    """The service is at capacity; the caller should retry after ``Retry-After`` seconds."""

    code = "overloaded"
    http_status = 503


class DeadlineExceededError(TrtDetectError):
    """The request did not finish within its deadline; its work was cancelled."""

    code = "deadline_exceeded"
    http_status = 504


class RequestTimeoutError(InvalidRequestError):
    """The client did not send the request body in time."""

    code = "request_timeout"
    http_status = 408
