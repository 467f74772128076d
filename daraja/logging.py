"""Logging helpers: personal data never leaves the process unmasked."""

import logging
import sys

from daraja.masking import mask_phone_numbers


class MaskPersonalDataFilter(logging.Filter):
    """Mask phone numbers in every record's rendered message.

    The record's message is rendered once here (``getMessage``) and the
    arguments dropped, so a handler further down cannot re-render the raw
    values.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phone_numbers(message)
        if masked != message or record.args:
            record.msg = masked
            record.args = None
        return True


class ConsoleHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is when a record is emitted.

    Test runners and process managers swap ``sys.stderr``; a handler that
    kept the stream it was configured with would write to a closed file.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass  # always the current sys.stderr
