from django.urls import re_path

from webhooks.views import InboundWebhookView, TestPriorityView

urlpatterns = [
    # /webhook/<user_id>/<token>[/c2b-validation|/c2b-confirmation]: the inbound door.
    re_path(
        r"^webhook/(?P<user_id>[^/]+)/(?P<token>[^/]+)(?:/(?P<hint>c2b-validation|c2b-confirmation))?/?$",
        InboundWebhookView.as_view(),
        name="inbound-webhook",
    ),
    # The bare path, without the token: only for merchants marked allow_legacy_path, who cannot re-register
    # their M-Pesa URLs yet.
    re_path(r"^webhook/(?P<user_id>[^/]+)/?$", InboundWebhookView.as_view(), name="inbound-webhook-legacy"),
    re_path(
        r"^test/priority/(?P<user_id>[^/]+)/(?P<level>low|normal|high|urgent)/?$",
        TestPriorityView.as_view(),
        name="test-priority",
    ),
]
