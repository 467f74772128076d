from django.urls import re_path

from webhooks.views import InboundWebhookView, TestPriorityView

urlpatterns = [
    re_path(r"^webhook/(?P<user_id>[^/]+)/?$", InboundWebhookView.as_view(), name="inbound-webhook"),
    re_path(
        r"^test/priority/(?P<user_id>[^/]+)/(?P<level>low|normal|high|urgent)/?$",
        TestPriorityView.as_view(),
        name="test-priority",
    ),
]
