"""``manage.py create_api_key <name> [--user-id USER_ID]``: a new API key, printed once as JSON."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from daraja.api_keys import api_key_create
from webhooks.models import Endpoint


class Command(BaseCommand):
    help = (
        "Create an API key for /api/ and print it once (only its digest is stored). Without --user-id it "
        "is an operator key that sees every user's data; with one, a merchant key limited to that user."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "name", help="Who or what will use the key, e.g. 'ops-scripts' or 'shop42 backoffice'."
        )
        parser.add_argument("--user-id", default="", help="Limit the key to this user's (merchant's) data.")

    def handle(self, *args, **options):
        name, user_id = options["name"].strip(), options["user_id"]
        try:
            api_key, key = api_key_create(name=name, user_id=user_id)
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
            )
            raise CommandError(f"Invalid API key: {problems}") from None
        if user_id and not Endpoint.objects.filter(user_id=user_id).exists():
            self.stderr.write(
                f"Note: user {user_id!r} has no endpoint yet; "
                "the key can create it (POST /api/v1/endpoints/)."
            )
        self.stdout.write(
            json.dumps(
                {
                    "name": api_key.name,
                    "prefix": api_key.prefix,
                    "scope": "operator" if api_key.is_operator else "merchant",
                    "user_id": api_key.user_id or None,
                    "key": key,
                }
            )
        )
        self.stderr.write("Keep the key now: it is not stored and cannot be shown again.")
