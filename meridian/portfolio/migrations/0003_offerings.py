# Offerings (issue 10): what a customer can ask for under a service, its request form fields and fulfilment tasks.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0022_audit_authorised_index'),
        ('portfolio', '0002_proposals'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Offering',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('version', models.PositiveIntegerField(default=1, editable=False)),
                ('name', models.CharField(help_text='What the customer asks for, in their words: “New mailbox”.', max_length=200)),
                ('summary', models.CharField(blank=True, help_text='One sentence the customer reads in the catalogue: what they get.', max_length=300)),
                ('description', models.TextField(blank=True, help_text="In the customer's language: what they get, what they need to have ready, what it does not include.")),
                ('active', models.BooleanField(default=True, help_text='Only active offerings of live services can be requested and are in the catalogue.')),
                ('staff_may_request', models.BooleanField(default=True, help_text='Service desk agents and other staff may request it for a customer (a call, a visit at the desk).', verbose_name='staff may request on behalf')),
                ('approval', models.CharField(choices=[('none', 'No approval'), ('service_owner', 'The service owner'), ('person', 'A named person'), ('team_lead', "A team's lead")], default='none', help_text='Who approves a request before its tasks start.', max_length=20)),
                ('expected_fulfilment', models.CharField(blank=True, help_text='What the customer is told, e.g. “2 business days” or “within 4 hours”.', max_length=100, verbose_name='expected fulfilment time')),
                ('approver_person', models.ForeignKey(blank=True, help_text="With approval by a named person: who (one of the provider's people, with a login).", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.person', verbose_name='approver')),
                ('approver_team', models.ForeignKey(blank=True, help_text="With approval by a team's lead: the team whose lead (at the time of the request) approves.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.team', verbose_name='approving team')),
                ('created_by', models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('requesters', models.ManyToManyField(blank=True, help_text='The customer organisations whose users may request it, among those the service is offered to. Empty: every customer the service is offered to.', related_name='requestable_offerings', to='core.organisation', verbose_name='who may request')),
                ('service', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='offerings', to='portfolio.service')),
                ('updated_by', models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['name', 'id'],
            },
        ),
        migrations.CreateModel(
            name='FulfilmentTask',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('order', models.PositiveIntegerField(default=10, help_text='Tasks run in this order; tasks with the same number may run at the same time.')),
                ('title', models.CharField(max_length=200)),
                ('description', models.TextField(blank=True, help_text='What to do, for the team.')),
                ('team', models.ForeignKey(help_text='Who does it.', on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.team')),
                ('offering', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='tasks', to='portfolio.offering')),
            ],
            options={
                'verbose_name': 'fulfilment task',
                'ordering': ['order', 'id'],
            },
        ),
        migrations.CreateModel(
            name='RequestField',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('order', models.PositiveIntegerField(default=100, help_text='Fields are shown in this order.')),
                ('name', models.CharField(help_text='Lower-case letters, digits and underscores (e.g. “mailbox_name”): the key in the API.', max_length=50)),
                ('label', models.CharField(help_text='The question the requester reads.', max_length=100)),
                ('type', models.CharField(choices=[('text', 'Text'), ('long_text', 'Long text'), ('integer', 'Whole number'), ('decimal', 'Decimal number'), ('boolean', 'Yes / no'), ('date', 'Date'), ('datetime', 'Date and time'), ('choice', 'Choice'), ('multiple_choice', 'Multiple choice'), ('url', 'Web address (URL)'), ('person', 'Person'), ('organisation', 'Organisation')], default='text', max_length=20)),
                ('required', models.BooleanField(default=False)),
                ('choices', models.TextField(blank=True, help_text='For a choice or multiple choice: one choice per line.')),
                ('help_text', models.CharField(blank=True, max_length=300, verbose_name='help text')),
                ('default', models.CharField(blank=True, help_text='As the requester would type it.', max_length=200)),
                ('min_value', models.DecimalField(blank=True, decimal_places=6, max_digits=20, null=True, verbose_name='minimum')),
                ('max_value', models.DecimalField(blank=True, decimal_places=6, max_digits=20, null=True, verbose_name='maximum')),
                ('regex', models.CharField(blank=True, help_text='For text: a regular expression the whole answer must match.', max_length=200, verbose_name='pattern')),
                ('offering', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='request_fields', to='portfolio.offering')),
            ],
            options={
                'verbose_name': 'request form field',
                'ordering': ['order', 'id'],
            },
        ),
        migrations.AddConstraint(
            model_name='offering',
            constraint=models.UniqueConstraint(fields=('service', 'name'), name='portfolio_offering_unique_name'),
        ),
        migrations.AddConstraint(
            model_name='requestfield',
            constraint=models.UniqueConstraint(fields=('offering', 'name'), name='portfolio_requestfield_unique_name'),
        ),
    ]
