"""Errors a user can act on. ``str(error)`` is one line: what is wrong and what to do."""


class BoxdrecError(Exception):
    """Base class: the message is safe to show to a user as it is."""


class ExportError(BoxdrecError):
    """The uploaded file is not a Letterboxd export we can read."""


class DataError(BoxdrecError):
    """MovieLens data is missing, incomplete or fails its checksum."""


class ModelError(BoxdrecError):
    """The trained model is missing, incomplete or does not match its metadata."""


class BoxdrecWarning(UserWarning):
    """Something worth knowing that does not stop the job."""
