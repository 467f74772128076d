"""The Support group sees C2B validation exchanges (what a validation URL answered), as it sees deliveries.
Self-contained, like deadletter's 0004."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT_GROUP = "Support"


def let_support_see_validation_exchanges(apps, schema_editor):
    app_config = apps.get_app_config("webhooks")
    models_module = getattr(app_config, "models_module", None)
    app_config.models_module = models_module or True  # create_permissions skips historical app configs
    try:
        create_permissions(app_config, apps=apps, verbosity=0)
    finally:
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=SUPPORT_GROUP).first()
    if group is not None:
        group.permissions.add(
            Permission.objects.get(content_type__app_label="webhooks", codename="view_validationexchange")
        )


def stop_support_seeing_validation_exchanges(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name=SUPPORT_GROUP):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="webhooks", codename="view_validationexchange")
        )


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0011_c2b_validation_exchanges"),
        ("deadletter", "0004_support_group"),
    ]

    operations = [
        migrations.RunPython(let_support_see_validation_exchanges, stop_support_seeing_validation_exchanges)
    ]
