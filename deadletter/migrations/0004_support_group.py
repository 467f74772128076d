"""The "Support" group: sees everything support needs, retries, pauses and resumes; nothing more.

No purge, no signing-secret rotation, no editing of endpoints: those stay with
superusers. Self-contained on purpose (migrations must not change meaning when
app code does); tests/daraja/admin re-run ``create_support_group`` to restore the
group after a transactional test has flushed the database.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT_GROUP = "Support"
SUPPORT_PERMISSIONS = [
    ("webhooks", "view_endpoint"),
    ("webhooks", "view_callback"),
    ("delivery", "view_delivery"),
    ("delivery", "view_deliveryattempt"),
    ("deadletter", "view_deadletter"),
    ("deadletter", "retry_deadletter"),
    ("deadletter", "pause_endpoint"),
]


def create_support_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran (post_migrate); make sure
    # the ones this group needs exist now, on a fresh database too.
    for app_label in {app_label for app_label, _ in SUPPORT_PERMISSIONS}:
        app_config = apps.get_app_config(app_label)
        # create_permissions skips app configs without a models module, which historical ones lack.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    for app_label, codename in SUPPORT_PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def delete_support_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=SUPPORT_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("webhooks", "0001_initial"),
        ("delivery", "0001_initial"),
        ("deadletter", "0003_support_permissions"),
    ]

    operations = [migrations.RunPython(create_support_group, delete_support_group)]
