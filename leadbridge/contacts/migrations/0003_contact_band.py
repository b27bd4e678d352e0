"""Contact.band (cold < warm < hot), kept by the scoring services together with the score.

The column is added by hand: Django's AddField of a NOT NULL column rebuilds the whole table on
SQLite (a copy of every contact). `ADD COLUMN ... DEFAULT 'cold' NOT NULL` is one statement that
rewrites nothing, on SQLite and on PostgreSQL (11+: a constant default is stored once). Existing
scores get their band from the default thresholds (warm 30, hot 60; scoring.ScoreSettings) through
the score index; the scoring app re-bands everyone when its thresholds change.
"""

from django.db import migrations, models

ADD_COLUMN = "ALTER TABLE contacts_contact ADD COLUMN band varchar(8) DEFAULT 'cold' NOT NULL"
DROP_COLUMN = "ALTER TABLE contacts_contact DROP COLUMN band"
BAND_FROM_SCORE = (
    "UPDATE contacts_contact SET band = CASE WHEN score >= 60 THEN 'hot' ELSE 'warm' END WHERE score >= 30"
)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0002_drop_redundant_fk_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(ADD_COLUMN, DROP_COLUMN),
                migrations.RunSQL(BAND_FROM_SCORE, migrations.RunSQL.noop),
            ],
            state_operations=[
                migrations.AddField(
                    model_name="contact",
                    name="band",
                    field=models.CharField(
                        choices=[("cold", "Cold"), ("warm", "Warm"), ("hot", "Hot")],
                        db_default="cold",
                        default="cold",
                        max_length=8,
                        verbose_name="band",
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="contact",
            index=models.Index(fields=["band", "id"], name="contact_band_id"),
        ),
    ]
