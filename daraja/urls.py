from django.contrib import admin
from django.urls import include, path

from daraja import dashboard, demo, health
from daraja.metrics import views as metrics_views

urlpatterns = [
    path("health", health.health, name="health"),
    path("health/queue", health.queue_health, name="queue-health"),
    path("metrics", metrics_views.metrics, name="metrics"),
    path("api/", include("daraja.api.urls")),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/dashboard/", admin.site.admin_view(dashboard.dashboard_view), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("demo/receiver/<str:user_id>", demo.demo_receiver, name="demo-receiver"),
    path("", include("webhooks.urls")),
]

admin.site.site_header = "Daraja webhook relay"
admin.site.site_title = "Daraja relay admin"
admin.site.index_title = "Support and operations"
