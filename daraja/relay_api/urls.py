"""``/api/``: an index, the v1 resources, the OpenAPI schema and its Swagger UI page, and a JSON 404
for the rest.

(No Redoc page: drf-spectacular's Redoc template loads web fonts from Google; Swagger UI's loads
nothing from outside.)
"""

from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import include, path, re_path, reverse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.routers import SimpleRouter

from daraja.relay_api.authentication import ApiKeyAuthentication
from daraja.relay_api.callbacks import CallbackViewSet
from daraja.relay_api.dead_letters import DeadLetterViewSet
from daraja.relay_api.destinations import (
    USER_ID_PATTERN,
    DestinationViewSet,
    EndpointViewSet,
    MerchantViewSet,
)
from daraja.relay_api.permissions import HasApiKeyOrStaffSession
from daraja.relay_api.queue import QueueView
from daraja.relay_api.throttling import ApiKeyRateThrottle
from daraja.relay_api.views import api_index, api_not_found, how_to_get_in

router = SimpleRouter()
router.register("merchants", MerchantViewSet, basename="api-merchant")
router.register(
    rf"merchants/(?P<user_id>{USER_ID_PATTERN})/destinations", DestinationViewSet, basename="api-destination"
)
router.register("endpoints", EndpointViewSet, basename="api-endpoint")
router.register("callbacks", CallbackViewSet, basename="api-callback")
router.register("dead-letters", DeadLetterViewSet, basename="api-dead-letter")


class DocsAccess:
    """The schema and docs need an API key too, or a staff login to the admin (a browser cannot send a
    bearer key for a page, but it sends the admin's session cookie).

    A refusal says how to get in, as a page for a browser (``Accept: text/html``) and as the API's JSON
    error otherwise: the views' own renderers would answer Swagger UI's bare "401 Unauthorized" or the
    schema's YAML.
    """

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [HasApiKeyOrStaffSession]
    throttle_classes = [ApiKeyRateThrottle]

    def permission_denied(self, request, message=None, code=None):
        if request.authenticators and not request.successful_authenticator:
            raise exceptions.NotAuthenticated(how_to_get_in(request, request.path))
        super().permission_denied(request, message=message, code=code)

    def handle_exception(self, exc):
        refused = (exceptions.NotAuthenticated, exceptions.AuthenticationFailed, exceptions.PermissionDenied)
        if not isinstance(exc, refused):
            return super().handle_exception(exc)
        request = self.request
        status = exc.status_code
        headers = {} if status == 403 else {"WWW-Authenticate": 'Bearer realm="api"'}
        detail = str(exc.detail)
        if "text/html" in request.headers.get("Accept", ""):
            login = request.build_absolute_uri(f"{reverse('admin:login')}?next={request.path}")
            context = {
                "detail": detail,
                "status": status,
                "login": login,
                "index": request.build_absolute_uri(reverse("api-index")),
            }
            page = render_to_string("api/docs_login.html", context)
            return HttpResponse(page, status=status, headers=headers)
        return JsonResponse({"error": exc.default_code, "detail": detail}, status=status, headers=headers)


class SchemaView(DocsAccess, SpectacularAPIView):
    pass


class SwaggerView(DocsAccess, SpectacularSwaggerView):
    def perform_content_negotiation(self, request, force=False):
        # Its only renderer is HTML: an API client asking for JSON must reach the access check (and
        # its JSON 401), not a 406.
        return super().perform_content_negotiation(request, force=True)


urlpatterns = [
    path("", api_index, name="api-index"),
    path("v1/", api_index, name="api-index-v1"),
    path("v1/", include(router.urls)),
    path("v1/queue/", QueueView.as_view(), name="api-queue"),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # (?s): a path with an encoded newline must get the JSON 404 too, not Django's HTML one.
    re_path(r"^(?P<path>(?s:.*))$", api_not_found),
]
