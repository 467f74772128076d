"""The ``pause_endpoint`` permission belongs to destinations (``webhooks.Endpoint``), the rows it acts on.

The existing Permission row is moved to the endpoint's content type, not
recreated, so every group and user holding it (the Support group of
deadletter/migrations/0004) keeps it. deadletter/migrations/0006 then drops
it from ``DeadLetter``'s options. Self-contained, like deadletter's 0004;
tests/daraja/admin re-runs ``move_pause_permission_to_endpoints`` after a flush.
"""

from django.db import migrations

CODENAME = "pause_endpoint"
DEAD_LETTERS = ("deadletter", "deadletter")
ENDPOINTS = ("webhooks", "endpoint")


def _move_permission(apps, *, source: tuple[str, str], target: tuple[str, str]) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    moving = Permission.objects.filter(
        content_type__app_label=source[0], content_type__model=source[1], codename=CODENAME
    ).first()
    if moving is None:
        return  # permissions not created yet: post_migrate makes the row on its model's new place
    target_type, _ = ContentType.objects.get_or_create(app_label=target[0], model=target[1])
    present = Permission.objects.filter(content_type=target_type, codename=CODENAME).first()
    if present is None:
        moving.content_type = target_type
        moving.save(update_fields=["content_type"])
        return
    # post_migrate already made the row in its new place (a flushed test database): whoever holds the
    # old row gets that one instead.
    for group in Group.objects.filter(permissions=moving):
        group.permissions.add(present)
    for user in moving.user_set.all():
        user.user_permissions.add(present)
    moving.delete()


def move_pause_permission_to_endpoints(apps, schema_editor):
    _move_permission(apps, source=DEAD_LETTERS, target=ENDPOINTS)


def move_pause_permission_to_dead_letters(apps, schema_editor):
    _move_permission(apps, source=ENDPOINTS, target=DEAD_LETTERS)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("webhooks", "0009_support_sees_merchants"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="endpoint",
            options={
                "ordering": ["user_id", "id"],
                "permissions": [("pause_endpoint", "Can pause and resume endpoints")],
                "verbose_name": "destination",
            },
        ),
        migrations.RunPython(move_pause_permission_to_endpoints, move_pause_permission_to_dead_letters),
    ]
