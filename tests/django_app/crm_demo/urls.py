"""The test project's URLs."""

from __future__ import annotations

from django.urls import path

from crm_demo.views import move_deal

urlpatterns = [path("deals/<str:alias>/<str:deal_id>/move/<str:to>", move_deal)]
