"""Ticket field values against the workspace's definitions (pure), definitions and labels."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ticketing.models.annotations import (
    AddLabelsCommand,
    FieldType,
    PutTicketFieldCommand,
    TicketFieldDefinition,
    normalise_label,
)
from ticketing.models.records import Channel
from ticketing.services.annotations import validate_field_values

T = datetime(2025, 11, 24, 16, 0, tzinfo=UTC)
OPTIONS = ["low", "normal", "high"]


def definition(key: str, kind: FieldType, **extra: Any) -> TicketFieldDefinition:
    if kind in (FieldType.SINGLE_SELECT, FieldType.MULTI_SELECT):
        extra.setdefault("options", OPTIONS)
    return TicketFieldDefinition(
        workspace_id="ws-1",
        key=key,
        label=key.title(),
        type=kind,
        updated_at=T,
        updated_by="admin-1",
        **extra,
    )


DEFINITIONS = {
    "order_id": definition("order_id", FieldType.TEXT, required=True),
    "amount": definition("amount", FieldType.NUMBER),
    "vip": definition("vip", FieldType.BOOLEAN),
    "due": definition("due", FieldType.DATE),
    "priority": definition("priority", FieldType.SINGLE_SELECT),
    "topics": definition("topics", FieldType.MULTI_SELECT),
    "line_only": definition("line_only", FieldType.TEXT, channels=[Channel.LINE]),
}

# ---------------------------------------------------------------------------- strategies
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)

RIGHT: dict[FieldType, st.SearchStrategy[Any]] = {
    FieldType.TEXT: st.text(max_size=200),
    FieldType.NUMBER: st.integers(-(10**15), 10**15)
    | st.floats(min_value=-1e15, max_value=1e15, allow_nan=False),
    FieldType.BOOLEAN: st.booleans(),
    FieldType.DATE: st.dates().map(date.isoformat),
    FieldType.SINGLE_SELECT: st.sampled_from(OPTIONS),
    FieldType.MULTI_SELECT: st.lists(st.sampled_from(OPTIONS), max_size=5),
}


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= 1e15


# what a field of each type accepts (None clears, so it is never "wrong")
ACCEPTS = {
    FieldType.TEXT: lambda v: isinstance(v, str),
    FieldType.NUMBER: _is_number,
    FieldType.BOOLEAN: lambda v: isinstance(v, bool),
    FieldType.DATE: _is_date,
    FieldType.SINGLE_SELECT: lambda v: v in OPTIONS,
    FieldType.MULTI_SELECT: lambda v: isinstance(v, list) and all(x in OPTIONS for x in v),
}


def wrong(kind: FieldType) -> st.SearchStrategy[Any]:
    extra = st.text(max_size=12) if kind is FieldType.DATE else st.nothing()
    return (json_values | extra).filter(lambda v: v is not None and not ACCEPTS[kind](v))


def of_type(kind: FieldType) -> TicketFieldDefinition:
    return definition("f", kind)


# ---------------------------------------------------------------------------- properties
@pytest.mark.parametrize("kind", list(FieldType))
@given(data=st.data())
def test_any_value_of_the_right_type_passes(kind, data):
    # GIVEN a field of this type and a value of that type
    value = data.draw(RIGHT[kind])
    # WHEN it is validated
    accepted, errors = validate_field_values({"f": value}, {"f": of_type(kind)}, Channel.LINE)
    # THEN it is accepted as is (a multi-select without repeats)
    assert errors == []
    expected = list(dict.fromkeys(value)) if kind is FieldType.MULTI_SELECT else value
    assert accepted == {"f": expected}


@pytest.mark.parametrize("kind", list(FieldType))
@given(data=st.data())
def test_any_value_of_a_wrong_type_fails_naming_the_field(kind, data):
    # GIVEN a field of this type and a value of another type (or out of its options)
    value = data.draw(wrong(kind))
    # WHEN it is validated
    accepted, errors = validate_field_values({"f": value}, {"f": of_type(kind)}, Channel.LINE)
    # THEN the field is named, with a message, and nothing is accepted
    assert [e.field for e in errors] == ["f"]
    assert errors[0].msg
    assert accepted == {}


@given(
    values=st.dictionaries(
        st.sampled_from([*DEFINITIONS, "nope", "other"]), json_values, min_size=1, max_size=9
    )
)
def test_every_bad_field_is_named_and_only_those(values):
    # GIVEN any values for known and unknown keys
    # WHEN they are validated for a Messenger ticket
    accepted, errors = validate_field_values(values, DEFINITIONS, Channel.MESSENGER)
    # THEN each key is either accepted or named once in the errors
    named = [e.field for e in errors]
    assert len(named) == len(set(named))
    assert set(named) | set(accepted) == set(values)
    assert not set(named) & set(accepted)
    # and the verdict is the independent rule's
    for key, value in values.items():
        d = DEFINITIONS.get(key)
        good = (
            d is not None
            and not d.channels
            and (
                (value is None and not d.required) or (value is not None and ACCEPTS[d.type](value))
            )
            and not (d.required and value in ("", []))
        )
        assert (key in accepted) is good, (key, value)


# ---------------------------------------------------------------------------- examples
def test_unknown_wrong_type_option_channel_and_required_are_all_named():
    # GIVEN one value breaking each rule, and one good value
    values = {
        "nope": 1,
        "amount": "ten",
        "priority": "urgent",
        "line_only": "x",
        "order_id": None,
        "vip": True,
    }
    # WHEN they are validated for a Messenger ticket
    accepted, errors = validate_field_values(values, DEFINITIONS, Channel.MESSENGER)
    # THEN every bad field is named with why
    messages = {e.field: e.msg for e in errors}
    assert set(messages) == {"nope", "amount", "priority", "line_only", "order_id"}
    assert messages["nope"] == "unknown field"
    assert "number" in messages["amount"]
    assert "'urgent'" in messages["priority"]
    assert "messenger" in messages["line_only"]
    assert "required" in messages["order_id"]
    assert accepted == {"vip": True}


def test_a_channel_limited_field_is_fine_on_its_channel():
    # GIVEN a field limited to LINE
    # WHEN it is set on a LINE ticket
    accepted, errors = validate_field_values({"line_only": "ok"}, DEFINITIONS, Channel.LINE)
    # THEN it is accepted
    assert errors == []
    assert accepted == {"line_only": "ok"}


def test_optional_fields_clear_with_null_required_ones_cannot():
    # GIVEN null for an optional and for a required field
    accepted, errors = validate_field_values(
        {"amount": None, "order_id": None}, DEFINITIONS, Channel.MESSENGER
    )
    # THEN the optional one clears and the required one is named
    assert accepted == {"amount": None}
    assert [e.field for e in errors] == ["order_id"]


@pytest.mark.parametrize("value", ["2025-02-30", "20250101", "2025-1-01", "tomorrow", 20250101])
def test_dates_are_calendar_dates_in_iso_form(value):
    _, errors = validate_field_values({"due": value}, DEFINITIONS, Channel.LINE)
    assert [e.field for e in errors] == ["due"]


@pytest.mark.parametrize("value", [True, False, float("inf"), 1e16, -(10**16), "3"])
def test_numbers_are_finite_bounded_and_not_booleans(value):
    _, errors = validate_field_values({"amount": value}, DEFINITIONS, Channel.LINE)
    assert [e.field for e in errors] == ["amount"]


def test_required_fields_cannot_be_emptied():
    required_multi = definition("m", FieldType.MULTI_SELECT, required=True)
    _, errors = validate_field_values({"m": []}, {"m": required_multi}, Channel.LINE)
    assert [e.field for e in errors] == ["m"]
    _, errors = validate_field_values({"order_id": ""}, DEFINITIONS, Channel.LINE)
    assert [e.field for e in errors] == ["order_id"]


# ---------------------------------------------------------------------------- definitions
@pytest.mark.parametrize(
    "body",
    [
        {"label": "Priority", "type": "single_select"},
        {"label": "Priority", "type": "multi_select", "options": []},
        {"label": "Priority", "type": "single_select", "options": ["a", "a"]},
        {"label": "Order", "type": "text", "options": ["a"]},
        {"label": "Order", "type": "colour"},
        {"label": "", "type": "text"},
        {"label": "Order", "type": "text", "channels": ["fax"]},
        {"label": "Order", "type": "text", "channels": ["line", "line"]},
        {"label": "Order", "type": "text", "extra": 1},
    ],
)
def test_invalid_definitions_are_refused(body):
    with pytest.raises(ValidationError):
        PutTicketFieldCommand.model_validate(body)


def test_a_select_definition_with_options_and_channels():
    command = PutTicketFieldCommand.model_validate(
        {
            "label": "Priority",
            "type": "single_select",
            "required": True,
            "options": OPTIONS,
            "channels": ["line", "messenger"],
        }
    )
    assert command.type is FieldType.SINGLE_SELECT
    assert command.channels == [Channel.LINE, Channel.MESSENGER]


# ---------------------------------------------------------------------------- labels
labels = st.text(st.sampled_from("abcXYZ019 _-"), min_size=1, max_size=50).filter(
    lambda s: s.strip()
)


@given(raw=labels, pad=st.sampled_from(["", " ", "  \t"]))
def test_labels_are_trimmed_lowercased_and_stable(raw, pad):
    # GIVEN a label of allowed characters, padded
    # WHEN normalised (twice)
    once = normalise_label(pad + raw + pad)
    # THEN trimmed, lowercase, and normalising again changes nothing
    assert once == raw.strip().lower()
    assert normalise_label(once) == once


@pytest.mark.parametrize("raw", ["", "   ", "a" * 51, "vip!", "über", "a#b", "a/b"])
def test_bad_labels_are_refused(raw):
    with pytest.raises(ValueError, match="label"):
        normalise_label(raw)


def test_add_labels_command_normalises_each_label():
    command = AddLabelsCommand.model_validate({"labels": [" VIP", "Refund-request"]})
    assert command.labels == ["vip", "refund-request"]
    with pytest.raises(ValidationError):
        AddLabelsCommand.model_validate({"labels": []})
    with pytest.raises(ValidationError):
        AddLabelsCommand.model_validate({"labels": [f"l{i}" for i in range(21)]})
