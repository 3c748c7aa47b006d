"""`Team.members` reads through the memberships: the old many-to-many table goes (its rows were copied)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0008_team_membership_data")]

    operations = [
        migrations.RemoveField(model_name="team", name="members"),
        migrations.AddField(
            model_name="team",
            name="members",
            field=models.ManyToManyField(
                blank=True, related_name="teams", through="core.TeamMembership", to="core.person"
            ),
        ),
    ]
