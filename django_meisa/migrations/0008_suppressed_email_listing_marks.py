"""Split ``SuppressedEmail.last_confirmed`` into one field per meaning (#13).

It meant three things: NULL on a ``meisa`` row, listed by the latest list; a date on a
``meisa`` row, deletion withheld (the ``as_of`` of the last list that had it); a date on
a ``local`` row, Meisa lists the address too. The first two become
``withheld_last_listed`` (NULL: listed), the third ``meisa_lists_too``. The refresh
state's count of the same name becomes ``last_confirmed_count``. Every row is kept; the
data moves in two UPDATEs, both ways.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models
from django.db.models import F

MEISA, LOCAL = "meisa", "local"


def split(apps: Any, schema_editor: Any) -> None:
    rows = apps.get_model("django_meisa", "SuppressedEmail").objects.using(
        schema_editor.connection.alias
    )
    dated = rows.filter(last_confirmed__isnull=False)
    dated.filter(source=MEISA).update(withheld_last_listed=F("last_confirmed"))
    dated.filter(source=LOCAL).update(meisa_lists_too=True)


def join(apps: Any, schema_editor: Any) -> None:
    # Back to one column: a local row Meisa lists too gets the applied list's as_of
    # (what the refresh wrote there), or its first_seen when none was ever applied.
    using = schema_editor.connection.alias
    rows = apps.get_model("django_meisa", "SuppressedEmail").objects.using(using)
    state = apps.get_model("django_meisa", "SuppressionRefreshState").objects.using(using)
    as_of = state.filter(pk=1).values_list("as_of", flat=True).first()
    rows.filter(source=MEISA).update(last_confirmed=F("withheld_last_listed"))
    listed_local = rows.filter(source=LOCAL, meisa_lists_too=True)
    listed_local.update(last_confirmed=as_of if as_of is not None else F("first_seen"))


class Migration(migrations.Migration):
    dependencies = [("django_meisa", "0007_backfill_chunk_ineligible")]

    operations = [
        migrations.AddField(
            model_name="suppressedemail",
            name="withheld_last_listed",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="Meisa rows the latest list left out but the shrink guard kept: "
                "the as_of of the last list that had the address. Empty on every other row.",
                null=True,
                verbose_name="withheld; last listed as of",
            ),
        ),
        migrations.AddField(
            model_name="suppressedemail",
            name="meisa_lists_too",
            field=models.BooleanField(
                db_default=False,
                default=False,
                editable=False,
                help_text="Local rows: Meisa's latest list has the address too, so deleting "
                "the row hands it over to Meisa rather than making it sendable.",
                verbose_name="Meisa lists it too",
            ),
        ),
        migrations.RunPython(split, join),
        migrations.RemoveField(model_name="suppressedemail", name="last_confirmed"),
        migrations.RenameField(
            model_name="suppressionrefreshstate",
            old_name="last_confirmed",
            new_name="last_confirmed_count",
        ),
        migrations.AlterField(
            model_name="suppressionrefreshstate",
            name="last_confirmed_count",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Entries of the latest list that were already held.",
                verbose_name="confirmed",
            ),
        ),
    ]
