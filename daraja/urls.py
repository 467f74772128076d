from functools import wraps

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.urls import include, path
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns

from daraja import dashboard, demo, health
from daraja.metrics import views as metrics_views


def superuser_admin_view(view):
    """An admin page for superusers only: RQ's pages can empty queues and delete or requeue jobs,
    more than the Support role may do (support sees queue state on the dashboard)."""

    @wraps(view)
    def only_superusers(request, *args, **kwargs):
        if not request.user.is_superuser:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return admin.site.admin_view(only_superusers)


# RQ's read-only stats keep their own token authentication; every page and action is superusers'.
rq_urlpatterns = get_api_urlpatterns() + get_admin_urlpatterns(view_wrapper=superuser_admin_view)

urlpatterns = [
    path("health", health.health, name="health"),
    path("health/queue", health.queue_health, name="queue-health"),
    path("metrics", metrics_views.metrics, name="metrics"),
    path("api/", include("daraja.relay_api.urls")),
    path("admin/rq/", include((rq_urlpatterns, "django_rq"))),
    path("admin/dashboard/", admin.site.admin_view(dashboard.dashboard_view), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("demo/receiver/<str:user_id>", demo.demo_receiver, name="demo-receiver"),
    path("", include("webhooks.urls")),
]

admin.site.site_header = "Daraja webhook relay"
admin.site.site_title = "Daraja relay admin"
admin.site.index_title = "Support and operations"
