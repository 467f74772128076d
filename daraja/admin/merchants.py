"""The merchants' admin: a merchant's door (user id, inbound URL) and its destinations side by side.

The inbound URL carries the token that keeps strangers from faking payment
notices: only superusers see it, behind a button whose every use the admin
log keeps. Support sees the user id and when the token last changed.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from daraja.admin.destination_state import delivery_state, kinds_text
from daraja.admin.display import change_link
from daraja.admin.tools import ObjectActionsMixin, log_admin_action
from webhooks.models import Endpoint, Merchant
from webhooks.services import merchant_rotate_inbound_token


class DestinationInline(admin.TabularInline):
    """A merchant's destinations, each with its state; changed on its own page (link)."""

    model = Endpoint
    # Three columns, so the list fits a phone; the URL and settings are on each destination's page.
    fields = ("destination", "kinds_shown", "state")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("circuit")

    @admin.display(description="destination")
    def destination(self, obj):
        return change_link("webhooks.endpoint", obj.pk, obj.name)

    @admin.display(description="callback kinds")
    def kinds_shown(self, obj):
        return kinds_text(obj.kinds)

    @admin.display(description="state")
    def state(self, obj):
        return delivery_state(obj)


@admin.register(Merchant)
class MerchantAdmin(ObjectActionsMixin, admin.ModelAdmin):
    """A merchant's door (user id, inbound URL) and its destinations.

    The inbound URL carries the token that keeps strangers from faking payment
    notices: only superusers see it, and each time one reveals it the admin
    log records it. Support sees the user id and when the token last changed.
    """

    list_display = ("user_id", "destination_count", "allow_legacy_path", "created_at")
    search_fields = ("user_id",)
    search_help_text = "User id (part of it is enough)."
    fields = ("user_id", "allow_legacy_path", "inbound_url", "inbound_token_rotated_at", "created_at")
    readonly_fields = ("inbound_url", "inbound_token_rotated_at", "created_at")
    inlines = (DestinationInline,)
    actions = ("rotate_inbound_token",)
    object_actions = ("reveal_inbound_url", "rotate_inbound_token")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(destination_total=Count("destinations"))

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "user_id") if obj else self.readonly_fields

    def get_actions(self, request):
        actions = super().get_actions(request)
        if request.user.is_superuser:
            actions["reveal_inbound_url"] = self.get_action("reveal_inbound_url")
        return actions

    @admin.display(description="destinations", ordering="destination_total")
    def destination_count(self, obj):
        return format_html(
            '<a href="{}?user_id={}">{}</a>',
            reverse("admin:webhooks_endpoint_changelist"),
            obj.user_id,
            obj.destination_total,
        )

    @admin.display(description="inbound URL")
    def inbound_url(self, obj):
        if obj.pk is None:
            return "Made when the merchant is saved."
        return (
            f"/webhook/{obj.user_id}/…  (the token is shown to superusers only, with "
            "“Reveal inbound URL”, and the reveal is logged)"
        )

    @admin.action(description="Reveal inbound URL (superusers; logged)")
    def reveal_inbound_url(self, request, queryset):
        if not request.user.is_superuser:
            raise PermissionDenied
        for merchant in queryset:
            LogEntry.objects.log_actions(
                user_id=request.user.pk,
                queryset=Merchant.objects.filter(pk=merchant.pk),
                action_flag=CHANGE,
                change_message="Revealed the inbound URL.",
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Inbound URLs: register them with M-Pesa",
            "opts": self.opts,
            "merchants": list(queryset),
        }
        response = TemplateResponse(request, "admin/webhooks/merchant/inbound_urls.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Rotate inbound token (the old URL stops at once)", permissions=["change"])
    def rotate_inbound_token(self, request, queryset):
        if not request.user.is_superuser:
            raise PermissionDenied
        for merchant in queryset:
            merchant_rotate_inbound_token(merchant=merchant)
        log_admin_action(request, list(queryset), "Inbound token rotated.")
        return self.reveal_inbound_url(request, queryset)

    def _allowed_object_actions(self, request) -> dict:
        if not request.user.is_superuser:
            return {}
        return super()._allowed_object_actions(request)

    def response_add(self, request, obj, post_url_continue=None):
        # A merchant without a destination keeps its callbacks but delivers none: add the first one.
        return HttpResponseRedirect(reverse("admin:webhooks_endpoint_add") + f"?merchant={obj.pk}")
