"""Pieces the support admin's pages share: a type-in user filter, page buttons that run admin
actions on one object, recording every action in Django's admin log, read-only pages and the retry
permission."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

RETRY_PERMISSION = "deadletter.retry_deadletter"


class RetryPermissionMixin:
    """Actions declared with ``permissions=["retry"]`` need the dead-letter queue's retry permission."""

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm(RETRY_PERMISSION)


class ReadOnlyAdminMixin:
    """Rows the relay writes and people only read (and act on through actions): no add, change or delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def log_admin_action(request, objects: QuerySet | Iterable[Model], message: str) -> None:
    """Record ``message`` in the admin log ("Recent actions", the object's history) for each object."""
    if not isinstance(objects, QuerySet):
        objects = list(objects)
        if not objects:
            return
        model = type(objects[0])
        objects = model._default_manager.filter(pk__in=[obj.pk for obj in objects])
    if any(field.name == "endpoint" for field in objects.model._meta.concrete_fields):
        objects = objects.select_related("endpoint")  # their names carry the user id: one query, not one each
    LogEntry.objects.log_actions(
        user_id=request.user.pk, queryset=objects, action_flag=CHANGE, change_message=message
    )


class DestinationFilter(admin.SimpleListFilter):
    """Rows of one destination (``?destination=<id>``, as the failure analysis links them)."""

    title = "destination"
    parameter_name = "destination"

    def lookups(self, request, model_admin):
        # Only the chosen one is listed (a list of every destination would not scale); listing it also
        # makes Django apply the filter, which it skips for a filter that shows nothing.
        value = self.value()
        if not value:
            return []
        destinations = model_admin.model._meta.get_field("endpoint").related_model.objects
        endpoint = destinations.filter(pk=int(value)).first() if value.isdigit() else None
        return [(value, endpoint.label if endpoint else "no such destination")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(endpoint_id=int(value)) if value.isdigit() else queryset.none()


class UserIdFilter(admin.ListFilter):
    """Filter by a user id typed into a box: a list of links would not scale to thousands of users."""

    title = "user id"
    parameter_name = "user_id"
    field_path = "endpoint__user_id"
    template = "admin/daraja/input_filter.html"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        value = params.pop(self.parameter_name, None)
        self.value = (value[-1] if isinstance(value, list) else value or "").strip()
        if self.value:
            self.used_parameters[self.parameter_name] = self.value

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return [self.parameter_name]

    @classmethod
    def on(cls, field_path: str) -> type[UserIdFilter]:
        """This filter over another path to the user id (e.g. ``merchant__user_id`` for callbacks)."""
        return type(cls.__name__, (cls,), {"field_path": field_path})

    def queryset(self, request, queryset):
        if self.value:
            return queryset.filter(**{self.field_path: self.value})
        return queryset

    def choices(self, changelist):
        # One "choice" carrying what the template needs: the current value, the other parameters
        # (search, filters, ordering: hidden inputs, so typing a user id drops none) and how to clear it.
        others = [
            (name, value)
            for name, values in changelist.filter_params.items()
            if name != self.parameter_name
            for value in values
        ]
        yield {
            "parameter_name": self.parameter_name,
            "value": self.value,
            "hidden": others,
            "clear_url": changelist.get_query_string(remove=[self.parameter_name]),
        }


class ObjectActionsMixin:
    """Buttons on an object's page that run the model admin's own actions on that one object.

    ``object_actions`` names actions of the admin; a button shows when the user
    may run the action (its ``permissions``) and ``object_action_applies`` says it
    fits the object. The action runs exactly as from the list (same checks, same
    admin log); a response it returns (a confirmation page) is shown, otherwise
    the user comes back to the object's page with the action's message.
    """

    object_actions: tuple[str, ...] = ()
    # Labels for the page's buttons (one object: "Pause", not "Pause selected endpoints").
    object_action_labels: dict[str, str] = {}
    change_form_template = "admin/daraja/change_form_with_buttons.html"

    def object_action_applies(self, name: str, obj) -> bool:
        return True

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        urls = [
            path(
                "<path:object_id>/do/<str:name>/",
                self.admin_site.admin_view(require_POST(self.object_action_view)),
                name=f"{info[0]}_{info[1]}_object_action",
            )
        ]
        return urls + super().get_urls()

    def _allowed_object_actions(self, request) -> dict:
        allowed = self.get_actions(request)
        return {name: allowed[name] for name in self.object_actions if name in allowed}

    def object_action_view(self, request, object_id: str, name: str):
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("No such object.")
        action = self._allowed_object_actions(request).get(name)
        if action is None or not self.has_view_permission(request, obj):
            raise PermissionDenied
        func = action[0]
        response = func(self, request, self.get_queryset(request).filter(pk=obj.pk))
        if response is not None:
            return response
        info = self.opts.app_label, self.opts.model_name
        return HttpResponseRedirect(reverse(f"admin:{info[0]}_{info[1]}_change", args=[obj.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if obj is not None:
            info = self.opts.app_label, self.opts.model_name
            extra_context["object_action_buttons"] = [
                {
                    "label": self.object_action_labels.get(name, action[2]),
                    "url": reverse(f"admin:{info[0]}_{info[1]}_object_action", args=[obj.pk, name]),
                    "name": name,
                }
                for name, action in self._allowed_object_actions(request).items()
                if self.object_action_applies(name, obj)
            ]
        return super().change_view(request, object_id, form_url, extra_context)
