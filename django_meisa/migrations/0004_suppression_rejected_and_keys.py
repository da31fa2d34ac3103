"""Refresh state: rejected entries, a note, the list digest; re-key non-canonical rows."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def rekey(apps: Any, schema_editor: Any) -> None:
    from django_meisa.suppression.rekey import rekey_rows

    rekey_rows(apps.get_model("django_meisa", "SuppressedEmail"), schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("django_meisa", "0003_feat_deletions_and_identity")]

    operations = [
        migrations.AddField(
            model_name="suppressionrefreshstate",
            name="last_rejected",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Entries of the latest list that are not one storable address: skipped.",
                verbose_name="entries rejected",
            ),
        ),
        migrations.AddField(
            model_name="suppressionrefreshstate",
            name="last_note",
            field=models.TextField(
                blank=True,
                default="",
                help_text="Why the latest applied list was adjusted (e.g. an as_of in the future).",
                verbose_name="note on the latest refresh",
            ),
        ),
        migrations.AddField(
            model_name="suppressionrefreshstate",
            name="list_digest",
            field=models.CharField(blank=True, default="", editable=False, max_length=64),
        ),
        migrations.AlterField(
            model_name="suppressedemail",
            name="email",
            field=models.CharField(
                help_text="Exactly one address. Stored as its key: the bare address, lowercased, "
                'IDNA-encoded domain ("Jane <Jane@Example.com>" becomes jane@example.com).',
                max_length=512,
                verbose_name="email",
            ),
        ),
        migrations.RunPython(rekey, migrations.RunPython.noop, elidable=True),
    ]
