"""The domain model: construction validates, errors name field and value, values are immutable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.errors import CRMError, ValidationError
from crmcore.model import (
    Activity,
    ContactPoint,
    CostEntry,
    Customer,
    Money,
    Opportunity,
    StageChange,
    SurveyResponse,
    Transaction,
    TransactionKind,
)

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def test_naive_datetime_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="'occurred_at' must be timezone-aware"):
        Transaction(
            id="t", customer_id="c", occurred_at=datetime(2025, 1, 1), amount=Money("1", "EUR")
        )


def test_non_utc_offset_is_rejected() -> None:
    cet = timezone(timedelta(hours=1))
    with pytest.raises(ValidationError, match="'responded_at' must be in UTC"):
        SurveyResponse(
            id="s", customer_id="c", responded_at=datetime(2025, 1, 1, tzinfo=cet), nps=5
        )


@pytest.mark.parametrize("bad", ["", " c", "x" * 129, 7, None])
def test_bad_ids_are_rejected(bad: object) -> None:
    with pytest.raises(ValidationError, match="'id' must be a non-empty string id"):
        Customer(id=bad, name="A")  # type: ignore[arg-type]


def test_negative_transaction_amount_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"'amount' must be >= 0 .*: -1"):
        Transaction(id="t", customer_id="c", occurred_at=T0, amount=Money("-1", "EUR"))


def test_refund_sign_is_negative_purchase_positive() -> None:
    assert TransactionKind.REFUND.sign == -1
    assert TransactionKind.PURCHASE.sign == 1
    assert TransactionKind.DEPOSIT.sign == 1
    assert TransactionKind.WITHDRAWAL.sign == -1


def test_kind_codes_are_stable_and_distinct() -> None:
    codes = [k.code for k in TransactionKind]
    assert codes == list(range(len(TransactionKind)))
    assert TransactionKind.PURCHASE.code == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"csat": 0}, "csat"),
        ({"csat": 6}, "csat"),
        ({"nps": 11}, "nps"),
        ({"nps": -1}, "nps"),
        ({"csat": 3.5}, "csat"),
        ({"nps": True}, "nps"),
    ],
)
def test_survey_scores_out_of_range(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=f"'{field}' must be an integer in"):
        SurveyResponse(id="s", customer_id="c", responded_at=T0, **kwargs)  # type: ignore[arg-type]


def test_survey_needs_an_answer() -> None:
    with pytest.raises(ValidationError, match="needs 'csat' or 'nps'"):
        SurveyResponse(id="s", customer_id="c", responded_at=T0)


@pytest.mark.parametrize(
    ("score", "category"),
    [
        (0, "detractor"),
        (6, "detractor"),
        (7, "passive"),
        (8, "passive"),
        (9, "promoter"),
        (10, "promoter"),
    ],
)
def test_nps_categories_follow_the_standard_cut_offs(score: int, category: str) -> None:
    assert (
        SurveyResponse(id="s", customer_id="c", responded_at=T0, nps=score).nps_category == category
    )


def test_email_and_phone_contact_points_are_checked() -> None:
    with pytest.raises(ValidationError, match="email address"):
        ContactPoint(kind="email", value="a@b")
    with pytest.raises(ValidationError, match="phone number"):
        ContactPoint(kind="phone", value="call me")
    assert ContactPoint(kind="mobile", value="+86 138 0013 8000").value.startswith("+86")


def test_unknown_enum_value_lists_the_choices() -> None:
    with pytest.raises(ValidationError, match="'kind' must be one of 'purchase'"):
        Transaction(id="t", customer_id="c", occurred_at=T0, amount=Money("1", "EUR"), kind="gift")


def test_relationship_to_self_is_rejected() -> None:
    from crmcore.model import Relationship

    with pytest.raises(ValidationError, match="points to the customer itself"):
        Customer(id="c", name="A", relationships=[Relationship("household", "c")])


def test_activity_done_needs_done_at_and_planned_must_not_have_it() -> None:
    with pytest.raises(ValidationError, match="'done_at' is required"):
        Activity(id="a", kind="call", rep_id="r", status="done")
    with pytest.raises(ValidationError, match="'done_at' is only for done"):
        Activity(id="a", kind="call", rep_id="r", status="planned", done_at=T0)


def test_opportunity_times_cannot_precede_creation() -> None:
    with pytest.raises(ValidationError, match="'closed_at' must not be before 'created_at'"):
        Opportunity(
            id="o",
            customer_id="c",
            owner_id="r",
            funnel="f",
            stage="won",
            created_at=T0,
            closed_at=T0 - timedelta(days=1),
        )


def test_opportunity_probability_in_unit_interval() -> None:
    with pytest.raises(ValidationError, match="'probability' must be in \\[0, 1\\]: 1.2"):
        Opportunity(
            id="o",
            customer_id="c",
            owner_id="r",
            funnel="f",
            stage="s",
            created_at=T0,
            probability=1.2,
        )


def test_stage_change_sequence_is_non_negative() -> None:
    with pytest.raises(ValidationError, match="'sequence'"):
        StageChange(
            opportunity_id="o", sequence=-1, from_stage=None, to_stage="lead", at=T0, by="r"
        )


def test_cost_entry_must_be_non_negative() -> None:
    with pytest.raises(ValidationError, match="'amount' must be >= 0"):
        CostEntry(
            id="k", customer_id="c", incurred_at=T0, amount=Money("-3", "EUR"), category="visit"
        )


def test_organisation_has_no_birthday() -> None:
    with pytest.raises(ValidationError, match="'birthday' is for persons"):
        Customer(id="c", name="ACME", kind="organization", birthday=date(2000, 1, 1))


def test_every_model_error_is_a_crm_error_and_a_value_error() -> None:
    with pytest.raises(CRMError) as info:
        Customer(id="", name="A")
    assert isinstance(info.value, ValueError)


@given(st.from_type(Customer))
def test_records_are_immutable(c: Customer) -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        c.name = "other"  # type: ignore[misc]


_STORABLE_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1
).filter(str.strip)


@given(st.from_type(Customer), _STORABLE_TEXT)
def test_with_changes_validates_and_keeps_identity(c: Customer, name: str) -> None:
    changed = c.with_changes(name=name)
    assert changed.id == c.id and changed.name == name and changed.version == c.version
    with pytest.raises(ValidationError):
        c.with_changes(acquired_at=datetime(2020, 1, 1))


def test_signed_amount_of_withdrawal() -> None:
    t = Transaction(
        id="t", customer_id="c", occurred_at=T0, amount=Money("480000", "CNY"), kind="withdrawal"
    )
    assert t.signed_amount == Money(Decimal("-480000"), "CNY")
