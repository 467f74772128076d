"""Pure-Python reading of M-Pesa (Daraja) callback bodies: no Django, no I/O.

``detect_kind`` tells which callback a parsed JSON body is; ``extract_facts``
reads what a relay needs from it (ids, result, amount, receipt, time, masked
phone). Neither ever raises, whatever JSON value it is given.
"""

from ._values import mask_phone
from .facts import CallbackFacts, extract_facts
from .kinds import CallbackKind, detect_kind

__all__ = ["CallbackFacts", "CallbackKind", "detect_kind", "extract_facts", "mask_phone"]
