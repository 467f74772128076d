"""Logging helpers: personal data never leaves the process unmasked."""

import logging

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
