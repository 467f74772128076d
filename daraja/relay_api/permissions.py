"""Who may do what: any API key reads and retries within its scope; purging takes an operator key."""

from rest_framework.permissions import BasePermission

from daraja.relay_api.authentication import ApiClient


class HasApiKey(BasePermission):
    """A valid API key was sent (without one DRF answers 401)."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, ApiClient)


class IsOperatorKey(BasePermission):
    """An operator key (no user id): merchant keys get 403."""

    message = "Only an operator key may do this; merchant keys may not."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, ApiClient) and request.user.is_operator


class HasApiKeyOrStaffSession(BasePermission):
    """An API key, or a staff member logged in to the admin (so the docs page works in a browser)."""

    message = "Only staff users of the admin may read the API docs in a browser; or send an API key."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return isinstance(user, ApiClient) or bool(user and user.is_authenticated and user.is_staff)
