"""Generated data for trying Meridian at scale: `meridian demo --scale N` and the list benchmarks.

N people in organisations of 100 people each (and so N / 100 customer organisations), written in batches
(`insert_rows`: COPY on PostgreSQL), not through the services: a million audited creates would take hours, and
these records are not anybody's work. One audit event per batch says what was loaded, by whom and how many (so the
trail still shows that the data appeared and how), and the hash chain is linked afterwards as for any other write.
Names, e-mail addresses and job titles are drawn from small lists with a fixed seed, so two loads of the same size
look alike.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction
from django.db.models import Model

from meridian.core import audit
from meridian.core.choices import AuditAction, OrganisationKind
from meridian.core.models import Organisation, Person

PEOPLE_PER_ORGANISATION = 100
BATCH = 5000

FIRST = ["Anna", "Bram", "Chloé", "Daan", "Emma", "Finn", "Greta", "Hugo", "Iris", "Jasper", "Kira", "Lucas",
         "Mila", "Noah", "Olga", "Pim", "Quinn", "Rosa", "Sem", "Tess", "Umar", "Vera", "Wout", "Xander", "Yara",
         "Zoë", "Ömer", "Łukasz", "Søren", "Ana"]  # fmt: skip
LAST = ["Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder",
        "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra",
        "Smits", "Schmidt", "Müller", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann", "Nowak",
        "Kowalski"]  # fmt: skip
TITLES = ["", "Analyst", "Engineer", "Team lead", "Manager", "Coordinator", "Consultant", "Administrator"]
SECTORS = ["Logistics", "Insurance", "Health", "Retail", "Energy", "Banking", "Transport", "Education"]


def load(people: int, *, actor: object, progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """Add `people` people in `people / 100` new customer organisations; returns (organisations, people) added."""
    rng = random.Random(people)
    first_new = Organisation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    organisations = max(1, -(-people // PEOPLE_PER_ORGANISATION))
    stamp = f"{first_new + 1:x}"  # names and e-mail addresses stay unique when a second load is added to the first
    for start in range(0, organisations, BATCH):
        rows = [
            {
                "name": f"{rng.choice(SECTORS)} {i:07d}-{stamp}",
                "kind": OrganisationKind.CUSTOMER.value,
                "email": f"contact{i}@scale-{stamp}.example",
            }
            for i in range(start, min(start + BATCH, organisations))
        ]
        _write_batch(Organisation, rows, actor, "organisations")
    org_ids = list(
        Organisation.objects.filter(pk__gt=first_new, email__endswith=f"@scale-{stamp}.example")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, people, BATCH):
        rows = []
        for i in range(start, min(start + BATCH, people)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            rows.append(
                {
                    "first_name": first,
                    "last_name": last,
                    "email": f"{first.lower()}.{i}@scale-{stamp}.example",
                    "job_title": rng.choice(TITLES),
                    "organisation_id": org_ids[i // PEOPLE_PER_ORGANISATION],
                }
            )
        _write_batch(Person, rows, actor, "people")
        if progress:
            progress(start + len(rows), people)
    return len(org_ids), people


def _write_batch(model: type[Model], rows: list[dict[str, Any]], actor: object, what: str) -> None:
    """Insert one batch and its one audit event (on the batch's first record, found by its unique e-mail address:
    the batch's size and how it was made), in one transaction."""
    with transaction.atomic():
        insert_rows(model, rows)
        audit.record_event(
            action=AuditAction.CREATE,
            obj=model._default_manager.get(email=rows[0]["email"]),
            actor=actor,
            changes={},
            reason=f"generated scale data: {len(rows)} {what} in one batch (meridian demo --scale)",
        )


def insert_rows(model: type[Model], rows: list[dict[str, Any]]) -> None:
    """Insert rows of `model` given as {column: value} (plain text and numbers; every other column takes its
    default), as fast as the database allows: COPY on PostgreSQL, one `executemany` elsewhere. No model instances,
    no signals, no checks: for generated data only."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = [str(f.column) for f in fields]
    # each default prepared once (a time, an empty JSON object); the given values are plain text and numbers
    defaults = {f.column: f.get_db_prep_save(f.get_default(), connection) for f in fields}
    values = [tuple(row[c] if c in row else defaults[c] for c in columns) for row in rows]
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)  # noqa: S608
