"""The admin's one date format (English): "6 Dec 2026, 10:05:31", everywhere a date is shown.

Django's own English formats ("Dec. 6, 2026, 10:05 a.m.") would sit beside the timeline's
seconds; ``FORMAT_MODULE_PATH`` makes these win. Templates use ``date:"DATETIME_FORMAT"``.
"""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i:s"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i:s"
