"""On MySQL/MariaDB, compare suppression keys byte for byte (utf8mb4_bin).

Their default collations are case- and accent-insensitive: 'u' equals 'ü', so two listed
addresses would collide on the unique index and a lookup would match a different
address. Keys are already lowercased and trimmed, so binary comparison is what every
other database does. Other vendors are left alone.
"""

from django.db import migrations

TABLE = "django_meisa_suppressedemail"


def _modify(collation):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "mysql":
            return
        schema_editor.execute(
            f"ALTER TABLE `{TABLE}` MODIFY `email` varchar(512) "
            f"CHARACTER SET utf8mb4 {collation} NOT NULL"
        )

    return run


class Migration(migrations.Migration):
    atomic = False  # MySQL can't roll DDL back; Django refuses it inside a transaction
    dependencies = [("django_meisa", "0004_suppression_rejected_and_keys")]

    operations = [
        migrations.RunPython(
            _modify("COLLATE utf8mb4_bin"), _modify(""), elidable=False
        ),
    ]
