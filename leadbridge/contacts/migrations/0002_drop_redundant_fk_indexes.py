"""Drop the ForeignKeys' own indexes where a composite index already leads with the column.

Each column keeps its FK constraint; lookups and cascades use the composite index
(activity_timeline, contact_company, contact_owner_id, uniq_contact_tag, contact_tag_by_tag,
note_contact, stage_change_contact). The database side is plain DROP INDEX: AlterField would
rebuild every one of these tables on SQLite (a copy of each table with millions of rows).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# (table, column, name Django gave the FK index in 0001_initial)
FK_INDEXES = [
    ("contacts_activity", "contact_id", "contacts_activity_contact_id_a9b88791"),
    ("contacts_contact", "company_id", "contacts_contact_company_id_537aca39"),
    ("contacts_contact", "owner_id", "contacts_contact_owner_id_0103c1ee"),
    ("contacts_contacttag", "contact_id", "contacts_contacttag_contact_id_7419fc13"),
    ("contacts_contacttag", "tag_id", "contacts_contacttag_tag_id_5d4815b8"),
    ("contacts_note", "contact_id", "contacts_note_contact_id_13551131"),
    ("contacts_stagechange", "contact_id", "contacts_stagechange_contact_id_17eb0b38"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
                )
                for table, column, name in FK_INDEXES
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="activity",
                    name="contact",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="activities",
                        to="contacts.contact",
                    ),
                ),
                migrations.AlterField(
                    model_name="contact",
                    name="company",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="contacts",
                        to="contacts.company",
                        verbose_name="company",
                    ),
                ),
                migrations.AlterField(
                    model_name="contact",
                    name="owner",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="owned_contacts",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="owner",
                    ),
                ),
                migrations.AlterField(
                    model_name="contacttag",
                    name="contact",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tag_links",
                        to="contacts.contact",
                    ),
                ),
                migrations.AlterField(
                    model_name="contacttag",
                    name="tag",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="contact_links",
                        to="contacts.tag",
                    ),
                ),
                migrations.AlterField(
                    model_name="note",
                    name="contact",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="notes",
                        to="contacts.contact",
                    ),
                ),
                migrations.AlterField(
                    model_name="stagechange",
                    name="contact",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="stage_changes",
                        to="contacts.contact",
                    ),
                ),
            ],
        ),
    ]
