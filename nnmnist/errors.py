"""The library's exceptions. Only the CLI turns them into exit codes and stderr lines."""

from __future__ import annotations


class NnmnistError(Exception):
    """Anything nnmnist reports to the user as one line: the message names the file and the fix."""

    exit_code = 1


class WeightsError(NnmnistError):
    """A weight file that cannot be used: unreadable, malformed, unsafe or the wrong shape."""


class UnsafeFileError(WeightsError):
    """A pickle that asks for something other than NumPy arrays: refused before anything runs."""


class NonFiniteOutputs(WeightsError):
    """Weights whose outputs overflow to NaN or infinity: no result can be given."""


class DataError(NnmnistError):
    """An input or dataset file that is missing, malformed or out of range."""


class ImageError(DataError):
    """One image that cannot be used (unreadable, too large, blank); the others go on."""


class Refused(ImageError):
    """A picture that was read, and is not predicted: blank, not one digit's ink, or not a
    digit to the gate. reason: the short kind, for counting refusals by kind."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[type[Refused], tuple[str, str]]:  # from a worker process
        return (type(self), (str(self), self.reason))


class SourceUnavailableError(DataError):
    """A data source that cannot be reached (no network, no cache, no folder)."""

    exit_code = 3


class InputNotice(UserWarning):
    """Something about an input that the user should know, though it is read (issued with
    warnings.warn, once per message; the CLI shows each as one 'note:' line on stderr)."""
