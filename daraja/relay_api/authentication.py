"""``Authorization: Bearer <key>`` for the integration API, and the client a key stands for."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from daraja.api_keys import api_key_for, api_key_touch

# Longer than any key we issue; anything longer is refused before it is hashed.
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class ApiClient:
    """Who is calling: an operator key (``user_id`` is ``None``) or a merchant key for one user."""

    key_id: int
    name: str
    user_id: str | None

    is_authenticated = True
    is_staff = False

    @property
    def is_operator(self) -> bool:
        return self.user_id is None


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates ``Authorization: Bearer <key>``.

    No ``Authorization`` header → anonymous (the permission then answers
    401 ``not_authenticated``); a header that is not a bearer key, an
    unknown key or a revoked key → 401 ``authentication_failed``.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword.lower().encode():
            raise exceptions.AuthenticationFailed("Send the API key as 'Authorization: Bearer <key>'.")
        if len(header) != 2 or len(header[1]) > MAX_KEY_LENGTH:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        api_key = api_key_for(key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if api_key.is_revoked:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        api_key_touch(api_key)
        client = ApiClient(key_id=api_key.pk, name=api_key.name, user_id=api_key.user_id or None)
        return client, api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when the key is missing or wrong.
        return f'{self.keyword} realm="api"'
