"""WSGI entry point for gunicorn: ``gunicorn daraja.wsgi``.

The inbound door (``/webhook/…``) runs only the middleware it needs
(``daraja.inbound_wsgi``); every other path gets Django's handler as usual.
"""

import os

import django
from django.core.handlers.wsgi import WSGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daraja.settings")
django.setup(set_prefix=False)

from daraja.inbound_wsgi import InboundHandler, InboundRouting  # noqa: E402 - needs the apps loaded

application = InboundRouting(default=WSGIHandler(), inbound=InboundHandler())
