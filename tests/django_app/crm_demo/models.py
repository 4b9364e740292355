"""The application's own model: an invoice written in the same transaction as a crmcore move."""

from __future__ import annotations

from django.db import models


class Invoice(models.Model):
    """An invoice for a deal (a row of the application, beside crmcore's tables)."""

    number = models.CharField(max_length=64, unique=True)
    deal_id = models.CharField(max_length=128)

    class Meta:
        app_label = "crm_demo"
