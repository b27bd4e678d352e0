import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import leadbridge.core.clock

# Dead contacts (merged or erased) keep their tag links; compiled segments subtract them once at
# the end (`... EXCEPT <dead ids>`). They are few, and this partial index finds them without
# reading the contact table.
DEAD_INDEX = (
    "CREATE INDEX segments_contact_dead ON contacts_contact (id) "
    "WHERE merged_into_id IS NOT NULL OR erased_at IS NOT NULL"
)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contacts", "0002_drop_redundant_fk_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Segment",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=120, verbose_name="name")),
                ("key", models.CharField(max_length=120, unique=True)),
                ("description", models.TextField(blank=True, default="", verbose_name="description")),
                ("filter_text", models.TextField(verbose_name="filter")),
                ("filter_json", models.JSONField(default=dict)),
                ("created_at", models.DateTimeField(default=leadbridge.core.clock.now)),
                ("updated_at", models.DateTimeField(default=leadbridge.core.clock.now)),
                (
                    "owner",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "uses",
                    models.ManyToManyField(blank=True, related_name="used_by", to="segments.segment"),
                ),
            ],
            options={"ordering": ["key"]},
        ),
        migrations.RunSQL(DEAD_INDEX, "DROP INDEX segments_contact_dead"),
    ]
