"""A cap on every uploaded file: nothing past FILE_UPLOAD_MAX_BYTES is kept, in memory or on disk.

Django's own handlers spool an upload of any size to a temporary file before a form can look
at it. CappedUploadHandler runs first (settings.FILE_UPLOAD_HANDLERS) and stops passing bytes
on once a file is over the cap, so the file a form receives is at most one chunk past the cap
and its size says it was too large. Forms still check `upload.size` against their own, smaller
limit (upload_too_large); this module must not decide anything else about the upload.
"""

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler


class CappedUploadHandler(FileUploadHandler):
    """Pass each file's bytes on to the next handlers until it is over the cap, then drop the rest."""

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        limit = settings.FILE_UPLOAD_MAX_BYTES
        if self.received > limit:
            return None  # read from the network and thrown away: the file is already too large
        self.received += len(raw_data)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) makes the file


def upload_too_large(upload: UploadedFile | None, limit: int) -> bool:
    """True when the upload holds more than `limit` bytes (or was cut at the global cap)."""
    return upload is not None and (upload.size or 0) > min(limit, settings.FILE_UPLOAD_MAX_BYTES)
