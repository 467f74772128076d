"""``/api/``: the v1 resources, the OpenAPI schema and its Swagger UI page, and a JSON 404 for the rest.

(No Redoc page: drf-spectacular's Redoc template loads web fonts from Google; Swagger UI's loads
nothing from outside.)
"""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authentication import SessionAuthentication
from rest_framework.routers import SimpleRouter

from daraja.api.authentication import ApiKeyAuthentication
from daraja.api.permissions import HasApiKeyOrStaffSession
from daraja.api.queue import QueueView
from daraja.api.throttling import ApiKeyRateThrottle
from daraja.api.views import api_not_found
from deadletter.api import DeadLetterViewSet
from delivery.api import CallbackViewSet
from webhooks.api import USER_ID_PATTERN, DestinationViewSet, EndpointViewSet, MerchantViewSet

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
    bearer key for a page, but it sends the admin's session cookie)."""

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [HasApiKeyOrStaffSession]
    throttle_classes = [ApiKeyRateThrottle]


class SchemaView(DocsAccess, SpectacularAPIView):
    pass


class SwaggerView(DocsAccess, SpectacularSwaggerView):
    pass


urlpatterns = [
    path("v1/", include(router.urls)),
    path("v1/queue/", QueueView.as_view(), name="api-queue"),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # (?s): a path with an encoded newline must get the JSON 404 too, not Django's HTML one.
    re_path(r"^(?P<path>(?s:.*))$", api_not_found),
]
