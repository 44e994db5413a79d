"""Identifiers, clock conversions, the single-table key formats and opaque page cursors."""

import base64
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ticketing.channels.base import MAX_EPOCH_MS
from ticketing.clock import from_ms, to_ms
from ticketing.errors import InvalidCursorError
from ticketing.ids import stable_id, ulid
from ticketing.models.records import Channel, TicketStatus
from ticketing.repository import keys
from ticketing.repository.dynamodb import decode_cursor, encode_cursor
from ticketing.views import status_view

CROCKFORD = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
MAX_ULID_MS = 2**48 - 1
T = datetime(2025, 11, 24, 16, 0, tzinfo=UTC)


def crockford_to_int(text: str) -> int:
    return int(
        text.translate(str.maketrans("ABCDEFGHJKMNPQRSTVWXYZ", "abcdefghijklmnopqrstuv")), 32
    )


# ---------------------------------------------------------------------------- ulid
def test_ulid_shape():
    # GIVEN no particular time
    # WHEN a ULID is made
    value = ulid()
    # THEN it is 26 Crockford Base32 characters (no I, L, O, U)
    assert CROCKFORD.fullmatch(value), value


@given(ms=st.integers(0, MAX_ULID_MS))
def test_ulid_encodes_its_time(ms):
    # GIVEN a millisecond time
    # WHEN a ULID is made for it
    value = ulid(now_ms=ms)
    # THEN it is well formed and its first 10 characters are that time
    assert CROCKFORD.fullmatch(value)
    assert crockford_to_int(value[:10]) == ms


@given(a=st.integers(0, MAX_ULID_MS), b=st.integers(0, MAX_ULID_MS))
def test_ulids_sort_by_time(a, b):
    # GIVEN two different millisecond times
    # WHEN a ULID is made for each
    ua, ub = ulid(now_ms=a), ulid(now_ms=b)
    # THEN string order is time order
    if a < b:
        assert ua < ub
    elif a > b:
        assert ua > ub
    else:
        assert ua[:10] == ub[:10]


def test_ulids_in_one_millisecond_differ():
    # GIVEN one millisecond
    # WHEN many ULIDs are made in it
    values = {ulid(now_ms=1764000000000) for _ in range(1000)}
    # THEN their random parts make them distinct
    assert len(values) == 1000


# ---------------------------------------------------------------------------- stable_id
# channel ids come from JSON: no lone surrogates (pydantic rejects them), no \x1f (the separator)
parts_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x1f"), max_size=12
)


def test_stable_id_is_deterministic():
    # GIVEN the same channel-given values twice
    # WHEN ids are derived
    first = stable_id("conv_", "messenger", "page-1", "psid-1")
    second = stable_id("conv_", "messenger", "page-1", "psid-1")
    # THEN they are equal, prefixed and Crockford-encoded
    assert first == second
    assert first.startswith("conv_")
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{24}", first.removeprefix("conv_"))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("messenger", "page-1", "psid-1"), ("messenger", "page-1", "psid-2")),
        (("messenger", "page-1", "psid-1"), ("line", "page-1", "psid-1")),
        (("ab", "c"), ("a", "bc")),
        (("a#b", "c"), ("a", "b#c")),
        (("a",), ("a", "")),
    ],
)
def test_stable_id_distinguishes_parts(a, b):
    # GIVEN two different tuples of parts (including ones that concatenate the same)
    # WHEN ids are derived
    # THEN they differ
    assert stable_id("c_", *a) != stable_id("c_", *b)


@given(
    a=st.lists(parts_text, min_size=1, max_size=4), b=st.lists(parts_text, min_size=1, max_size=4)
)
def test_stable_id_distinct_for_distinct_parts(a, b):
    # GIVEN any two tuples of parts (channel ids never contain the \x1f separator)
    # WHEN ids are derived
    # THEN equal parts give equal ids and different parts different ids
    assert (stable_id("x_", *a) == stable_id("x_", *b)) == (a == b)


# ---------------------------------------------------------------------------- clock
@given(ms=st.integers(0, MAX_EPOCH_MS))
@example(ms=33059094)  # float seconds used to lose a millisecond here
@example(ms=2140063172)
@example(ms=MAX_EPOCH_MS)
def test_ms_round_trip(ms):
    # GIVEN a channel's millisecond timestamp
    # WHEN it becomes a datetime and back
    # THEN nothing is lost
    assert to_ms(from_ms(ms)) == ms
    assert from_ms(ms).tzinfo is not None


@given(moment=st.datetimes(timezones=st.just(UTC)))
def test_to_ms_truncates_to_the_millisecond(moment):
    # GIVEN any aware datetime
    # WHEN it is converted to milliseconds
    ms = to_ms(moment)
    # THEN it is the millisecond it falls in
    assert from_ms(ms) <= moment < from_ms(ms) + timedelta(milliseconds=1)


# ---------------------------------------------------------------------------- keys
WS = "ws-1"
OTHER = "ws-2"


def workspace_owned(workspace_id: str) -> dict[str, dict[str, str]]:
    """Every workspace-owned key and index entry keys.py builds, by name."""
    return {
        "connection_index": keys.connection_index(workspace_id, Channel.LINE, "bot-1"),
        "contact": keys.contact_key(workspace_id, "ct-1"),
        "identity": keys.identity_key(workspace_id, Channel.MESSENGER, "page-1", "psid-1"),
        "conversation": keys.conversation_key(workspace_id, "conv-1"),
        "ticket": keys.ticket_key(workspace_id, "t-1"),
        "history": keys.history_key(workspace_id, "t-1", T, "e-1"),
        "message": keys.message_key(workspace_id, Channel.LINE, "bot-1", "m-1"),
        "message_index": keys.message_index(workspace_id, "t-1", T, "m-1"),
        "outbox": keys.outbox_key(workspace_id, T, "m-1"),
        "note": keys.note_key(workspace_id, "t-1", T, "n-1"),
        "ticket_field": keys.ticket_field_key(workspace_id, "order_id"),
        "agent": keys.agent_key(workspace_id, "a-1"),
        "team": keys.team_key(workspace_id, "team-1"),
        "review": keys.review_key(workspace_id, "rv_1"),
        "review_index": keys.review_index(
            workspace_id, "rv_1", status="new", rating=1, product_id="p-1", created_at=T
        ),
        "team_member": keys.team_member_key(workspace_id, "team-1", "a-1"),
        "contact_conversation": keys.contact_conversation_key(
            workspace_id, "ct-1", Channel.LINE, "bot-1", "conv-1"
        ),
        "contact_ticket": keys.contact_ticket_key(workspace_id, "ct-1", T, "t-1"),
        # inbox view entries (issue #4): the entry and its gsi1 partition
        "view_entry": {
            **keys.view_entry_key(workspace_id, "t-1", "open#AGENT#a-1"),
            "gsi1pk": keys.view_partition(workspace_id, "open#AGENT#a-1"),
        },
        # ticket analytics (issue #6, part 3)
        "analytics_open": keys.analytics_open_key(workspace_id),
        "analytics_day": keys.analytics_day_key(workspace_id, "2026-03-01"),
        "analytics_marker": keys.analytics_marker_key(workspace_id, "ev-1"),
        # assignment automation (issue #6, part 2)
        "automation_rules": keys.automation_rules_key(workspace_id),
        "round_robin": keys.round_robin_key(workspace_id, "team-1"),
        # comments (issue #5, comments)
        "comment": keys.comment_key(workspace_id, "cm_1"),
        "comment_index": keys.comment_index(
            workspace_id, Channel.MESSENGER, "page-1", "post-1", "new", T, "cm_1"
        ),
        "ticket_source_link": keys.ticket_source_link_key(workspace_id, "t-1", "comment", "cm_1"),
    }


def partition_values(key: dict[str, str]) -> list[str]:
    return [value for name, value in key.items() if name in (keys.PK, "gsi1pk", "gsi2pk")]


def test_workspace_key():
    # GIVEN a workspace
    # WHEN its record's key is built
    key = keys.workspace_key(WS)
    # THEN it is the workspace's own partition
    assert key == {keys.PK: "WS#ws-1", keys.SK: "WORKSPACE"}


@pytest.mark.parametrize("name", sorted(workspace_owned(WS)))
def test_every_workspace_owned_key_starts_with_the_workspace(name):
    # GIVEN one of the key builders for workspace-owned records
    key = workspace_owned(WS)[name]
    # WHEN its partition values are read
    partitions = partition_values(key)
    # THEN each starts with WS#<ws>#
    assert partitions, key
    assert all(p.startswith("WS#ws-1#") for p in partitions), key


def test_key_builders_are_all_covered():
    # GIVEN the public key builders of keys.py
    builders = {
        name
        for name, value in vars(keys).items()
        if callable(value) and not name.startswith("_") and name.endswith(("_key", "_index"))
    }
    # WHEN compared with the ones checked above (plus the workspace and global connection keys)
    checked = {f"{n}_key" if not n.endswith("_index") else n for n in workspace_owned(WS)}
    # THEN a new builder cannot slip in unchecked
    # (rejected webhook bodies precede any workspace: they are keyed by channel and day)
    # (review pull cursors and the per-channel connection index are global, like connections)
    assert builders == checked | {"workspace_key", "connection_key", "rejected_key"} | {
        "review_pull_cursor_key",
        "connection_channel_index",
    } | {"workspace_registry_key"}  # the registry lists workspaces: global (auto-close)


def test_connection_key_is_global_by_channel_account():
    # GIVEN a channel account (webhooks name it before we know the workspace)
    # WHEN its connection key is built
    key = keys.connection_key(Channel.MESSENGER, "page-1")
    # THEN it is addressed by channel and account alone
    assert key == {keys.PK: "CONN#messenger#page-1", keys.SK: "CONNECTION"}


workspace_ids = st.text(st.characters(exclude_characters="#"), min_size=1, max_size=10)


@given(a=workspace_ids, b=workspace_ids)
def test_no_key_reaches_into_another_workspace(a, b):
    # GIVEN two different workspaces (ids without '#')
    if a == b:
        return
    # WHEN every key of workspace a is built
    partitions = [p for key in workspace_owned(a).values() for p in partition_values(key)]
    # THEN none falls under workspace b's prefix
    assert not any(p.startswith(f"WS#{b}#") for p in partitions)
    assert not any(p == keys.ws(b) for p in partitions)


def test_history_shares_the_ticket_partition():
    # GIVEN a ticket and one of its history events
    # WHEN both keys are built
    # THEN one query on the ticket's partition reads both
    assert keys.history_key(WS, "t-1", T, "e-1")[keys.PK] == keys.ticket_key(WS, "t-1")[keys.PK]


def test_message_key_is_the_channel_dedupe_key():
    # GIVEN the same channel message seen twice
    # WHEN its key is built each time
    # THEN it is the same item (the put is its own dedupe), distinct from other accounts
    assert keys.message_key(WS, "line", "bot-1", "m-1") == keys.message_key(
        WS, Channel.LINE, "bot-1", "m-1"
    )
    assert keys.message_key(WS, "line", "bot-1", "m-1") != keys.message_key(
        WS, "line", "bot-2", "m-1"
    )


moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2286, 1, 1), timezones=st.just(UTC)
)


@given(a=moments, b=moments)
def test_activity_sort_follows_time(a, b):
    # GIVEN two activity times (13-digit milliseconds hold until 2286)
    # WHEN ticket and message sort keys are built
    ta, tb = keys.ticket_activity_sort("t-1", a), keys.ticket_activity_sort("t-1", b)
    ma = keys.message_index(WS, "t-1", a, "m-1")["gsi1sk"]
    mb = keys.message_index(WS, "t-1", b, "m-1")["gsi1sk"]
    # THEN string order is millisecond order
    if to_ms(a) < to_ms(b):
        assert ta < tb
        assert ma < mb
    elif to_ms(a) == to_ms(b):
        assert ta == tb
        assert ma == mb


def test_ticket_status_lists_differ():
    # GIVEN one workspace's inboxes
    # WHEN their partitions are built (status lists are views of their own)
    partitions = {keys.view_partition(WS, status_view(s)) for s in TicketStatus}
    # THEN each status has its own
    assert partitions == {"WS#ws-1#VIEW#open", "WS#ws-1#VIEW#closed", "WS#ws-1#VIEW#spam"}


# ---------------------------------------------------------------------------- cursors
PARTITION = keys.view_partition(WS, status_view(TicketStatus.OPEN))
LAST_KEY = {
    keys.PK: {"S": "WS#ws-1#TICKET#t-1"},
    keys.SK: {"S": "TICKET"},
    "gsi1pk": {"S": PARTITION},
    "gsi1sk": {"S": "1764000000000#t-1"},
}


def token(plain: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode()


def test_cursor_round_trip_on_an_index():
    # GIVEN a LastEvaluatedKey of a gsi1 query
    # WHEN it is encoded and decoded for the same list
    cursor = encode_cursor(LAST_KEY)
    decoded = decode_cursor(cursor, index=keys.GSI1, partition=PARTITION)
    # THEN it is the same key, and the token is URL-safe
    assert decoded == LAST_KEY
    assert re.fullmatch(r"[A-Za-z0-9_=-]+", cursor)


def test_cursor_round_trip_on_the_table():
    # GIVEN a LastEvaluatedKey of a main-table query
    last = {keys.PK: {"S": "WS#ws-1#TICKET#t-1"}, keys.SK: {"S": "HIST#1764000000000#e-1"}}
    # WHEN it is encoded and decoded for the same partition
    decoded = decode_cursor(encode_cursor(last), index=None, partition="WS#ws-1#TICKET#t-1")
    # THEN it is the same key
    assert decoded == last


def test_cursor_without_padding_still_decodes():
    # GIVEN a cursor whose '=' padding was stripped by a client
    cursor = encode_cursor(LAST_KEY).rstrip("=")
    # WHEN decoded
    # THEN it is the same key
    assert decode_cursor(cursor, index=keys.GSI1, partition=PARTITION) == LAST_KEY


key_text = st.text(max_size=20)


@given(pk=key_text, sk=key_text, sort=key_text, partition=st.text(min_size=1, max_size=20))
def test_cursor_round_trip_property(pk, sk, sort, partition):
    # GIVEN any string key values of a gsi2 query
    last = {
        keys.PK: {"S": pk},
        keys.SK: {"S": sk},
        "gsi2pk": {"S": partition},
        "gsi2sk": {"S": sort},
    }
    # WHEN encoded and decoded for that partition
    # THEN the key comes back unchanged
    assert decode_cursor(encode_cursor(last), index=keys.GSI2, partition=partition) == last


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("", id="empty"),
        pytest.param("!!!not-base64!!!", id="garbage"),
        pytest.param("a", id="one-char"),
        pytest.param(base64.urlsafe_b64encode(b"not json").decode(), id="not-json"),
        pytest.param(base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(), id="not-utf8"),
        pytest.param(token([1, 2]), id="json-list"),
        pytest.param(token("pk"), id="json-string"),
        pytest.param(token(None), id="json-null"),
        pytest.param(
            token({k: v["S"] for k, v in LAST_KEY.items()} | {"gsi1pk": "WS#ws-2#VIEW#open"}),
            id="other-workspace",
        ),
        pytest.param(
            token({k: v["S"] for k, v in LAST_KEY.items()} | {"gsi1pk": "WS#ws-1#VIEW#spam"}),
            id="other-list",
        ),
        pytest.param(
            token({k: v["S"] for k, v in LAST_KEY.items()} | {"extra": "x"}), id="extra-key"
        ),
        pytest.param(
            token({k: v["S"] for k, v in LAST_KEY.items() if k != "gsi1sk"}), id="missing-key"
        ),
        pytest.param(
            token({k: v["S"] for k, v in LAST_KEY.items()} | {"gsi1sk": 1764000000000}),
            id="number-value",
        ),
        pytest.param(
            token({k: v["S"] for k, v in LAST_KEY.items()} | {"sk": {"S": "TICKET"}}),
            id="dynamo-typed-value",
        ),
        pytest.param(token({keys.PK: PARTITION, keys.SK: "TICKET"}), id="table-keys-for-an-index"),
        pytest.param(
            token({keys.PK: "a", keys.SK: "b", "gsi2pk": PARTITION, "gsi2sk": "1764000000000#t-1"}),
            id="other-index-keys",
        ),
    ],
)
def test_decode_rejects_foreign_or_broken_cursors(cursor):
    # GIVEN a cursor that is not one of this list's tokens
    # WHEN it is decoded for the open-tickets list of ws-1
    # THEN InvalidCursorError (400) is raised
    with pytest.raises(InvalidCursorError) as info:
        decode_cursor(cursor, index=keys.GSI1, partition=PARTITION)
    assert info.value.status_code == 400
    assert info.value.code == "invalid_cursor"


@given(
    cursor=st.text(max_size=200)
    | st.binary(max_size=150).map(lambda b: base64.urlsafe_b64encode(b).decode())
)
def test_decode_any_text_returns_this_list_or_raises(cursor):
    # GIVEN any text as a cursor
    # WHEN it is decoded
    try:
        decoded = decode_cursor(cursor, index=keys.GSI1, partition=PARTITION)
    except InvalidCursorError:
        return
    # THEN anything accepted names exactly this list's keys and partition
    assert set(decoded) == {keys.PK, keys.SK, "gsi1pk", "gsi1sk"}
    assert decoded["gsi1pk"] == {"S": PARTITION}
