"""WSGI entry point for gunicorn: ``gunicorn daraja.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daraja.settings")

application = get_wsgi_application()
