# An `import` inquiry kind for leads imported from a file (`leadbridge import leads`): a choices
# change only (no schema change on either database).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("capture", "0002_event_rollup"),
    ]

    operations = [
        migrations.AlterField(
            model_name="inquiry",
            name="kind",
            field=models.CharField(
                choices=[
                    ("form", "Form"),
                    ("call", "Call"),
                    ("chat", "Chat"),
                    ("callback", "Callback request"),
                    ("email", "Email"),
                    ("messenger", "Messenger"),
                    ("import", "Import"),
                ],
                max_length=12,
                verbose_name="kind",
            ),
        ),
    ]
