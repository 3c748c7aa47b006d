"""A team's members become rows with attributes (role, since): the TeamMembership table, beside the old one."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0006_list_preferences_and_natural_sort")]

    operations = [
        migrations.CreateModel(
            name="TeamMembership",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "role",
                    models.CharField(
                        choices=[
                            ("member", "Member"),
                            ("dispatcher", "Dispatcher (assigns the queue)"),
                            ("deputy_lead", "Deputy lead"),
                            ("trainee", "Trainee"),
                        ],
                        default="member",
                        max_length=20,
                    ),
                ),
                (
                    "since",
                    models.DateField(blank=True, help_text="When they joined the team; empty if not known.", null=True),
                ),
                (
                    "person",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="team_memberships", to="core.person"
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="memberships", to="core.team"
                    ),
                ),
            ],
            options={"ordering": ["team", "person__last_name", "person__first_name", "pk"]},
        ),
        migrations.AddConstraint(
            model_name="teammembership",
            constraint=models.UniqueConstraint(fields=("team", "person"), name="core_teammembership_unique_person"),
        ),
    ]
