"""The suppression mirror's generation token (the negative cache's validity check)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("django_meisa", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="SuppressionGeneration",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("token", models.BigIntegerField(verbose_name="token")),
            ],
            options={
                "verbose_name": "suppression generation",
                "verbose_name_plural": "suppression generation",
            },
        ),
    ]
