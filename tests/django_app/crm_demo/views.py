"""A view that writes a Django row and a crmcore move in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from crm_demo.models import Invoice
from crmcore.pipeline import Funnel
from crmcore.pipeline.service import advance
from crmcore.repositories.sql import django_unit_of_work

FUNNEL = Funnel.linear("demo", {"lead": 0.1, "proposal": 0.5, "negotiation": 0.8})


def move_deal(request: HttpRequest, alias: str, deal_id: str, to: str) -> JsonResponse:
    """Invoice the deal and move it to ``to``, atomically on database ``alias``.

    ``?version=`` is the deal's version the caller saw; ``?fail=1`` makes the view fail
    after both writes (both are rolled back).
    """
    with transaction.atomic(using=alias):
        invoice = Invoice.objects.using(alias).create(number=f"{deal_id}-{to}", deal_id=deal_id)
        with django_unit_of_work(using=alias) as uow:
            moved = advance(
                uow,
                deal_id,
                to,
                expected_version=int(request.GET.get("version", "0")),
                funnel=FUNNEL,
                by="ann",
                at=datetime.now(UTC),
            )
            uow.commit()
        if request.GET.get("fail") == "1":
            raise RuntimeError("the view failed after both writes")
    return JsonResponse({"invoice": invoice.number, "version": moved.opportunity.version})
