"""Keep today's members: every (team, person) of the old many-to-many becomes a membership with the role
"member" and no known start date. Backwards: the memberships become plain members again."""

from typing import Any

from django.db import migrations


def to_memberships(apps: Any, schema_editor: Any) -> None:
    Team = apps.get_model("core", "Team")
    TeamMembership = apps.get_model("core", "TeamMembership")
    old = Team.members.through.objects.values_list("team_id", "person_id")
    TeamMembership.objects.bulk_create(
        [TeamMembership(team_id=team, person_id=person, role="member") for team, person in old.iterator()],
        batch_size=1000,
    )


def to_members(apps: Any, schema_editor: Any) -> None:
    Team = apps.get_model("core", "Team")
    TeamMembership = apps.get_model("core", "TeamMembership")
    through = Team.members.through
    rows = TeamMembership.objects.values_list("team_id", "person_id")
    through.objects.bulk_create([through(team_id=team, person_id=person) for team, person in rows], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("core", "0007_team_membership")]

    operations = [migrations.RunPython(to_memberships, to_members)]
