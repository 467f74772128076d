"""The WSGI application: the inbound door runs only the middleware it needs.

Every request under ``/webhook/`` (M-Pesa's callbacks, the busiest path by
far) goes through a handler of its own that runs ``settings.MIDDLEWARE``
without ``INBOUND_SKIPPED_MIDDLEWARE`` and resolves only the inbound URLs
(``webhooks.urls``): what is skipped serves browsers and signed-in people,
and no view that needs it can be reached through that handler. Every other
path goes through Django's own handler with the full middleware.

Kept for the inbound door: the request id, the security headers (and the
HTTPS redirect when it is on), ``CommonMiddleware`` (the allowed hosts) and
any middleware added to the settings later, unless it is added to the
skipped set here too. Django's test client uses its own handler with the
full middleware; ``tests/daraja/test_inbound_wsgi.py`` goes through this one.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.utils.module_loading import import_string

INBOUND_PREFIX = "/webhook/"
INBOUND_URLCONF = "webhooks.urls"

INBOUND_SKIPPED_MIDDLEWARE = frozenset(
    {
        # Static files are served under STATIC_URL, never under /webhook/.
        "whitenoise.middleware.WhiteNoiseMiddleware",
        # M-Pesa sends no cookie and no one signs in on the inbound door: no session, user or messages.
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        # The inbound views are exempt from CSRF (a token in the path authenticates them, not a cookie).
        "django.middleware.csrf.CsrfViewMiddleware",
        # A JSON answer to M-Pesa is never shown in a frame.
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        # Admin login throttling: nobody logs in on the inbound door.
        "axes.middleware.AxesMiddleware",
    }
)


def inbound_middleware() -> list[str]:
    """The middleware the inbound door runs, in the settings' order."""
    return [path for path in settings.MIDDLEWARE if path not in INBOUND_SKIPPED_MIDDLEWARE]


class InboundHandler(WSGIHandler):
    """Django's WSGI handler with the inbound door's middleware and URLs only."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django's BaseHandler.load_middleware for a synchronous chain, over inbound_middleware().
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for middleware_path in reversed(inbound_middleware()):
            middleware = import_string(middleware_path)
            try:
                instance = middleware(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler

    def resolve_request(self, request):
        request.urlconf = INBOUND_URLCONF
        return super().resolve_request(request)


class InboundRouting:
    """A WSGI application: ``/webhook/…`` to the inbound handler, everything else to Django's."""

    def __init__(self, default: WSGIHandler, inbound: WSGIHandler) -> None:
        self.default = default
        self.inbound = inbound

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(INBOUND_PREFIX):
            return self.inbound(environ, start_response)
        return self.default(environ, start_response)
