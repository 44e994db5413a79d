"""The comments API (Facebook Page and Instagram post comments). Thin: authorise from the Cognito
claims, call a service, shape the answer. Another workspace's comment is a 404 (its key cannot be
addressed).

Imported by ``app.py`` on the first invocation (or the first read of ``app.app``), not at its
import: the validating resolver, the pydantic models and the services are the first request's
cost (cold start, bench/README.md section 4).
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from ticketing.clock import utc_now
from ticketing.http import caller, responses, rest_resolver
from ticketing.models.comments import (
    Comment,
    CommentListResponse,
    CommentStatus,
    ConvertCommentResponse,
    PrivateReplyCommand,
    PrivateReplyResponse,
    PublicReplyCommand,
)
from ticketing.models.records import Channel
from ticketing.repository.dynamodb import get_repository
from ticketing.services import comments

app = rest_resolver()

CommentId = Annotated[str, Path(min_length=1, max_length=64)]


@app.get("/comments", responses=responses())
def list_comments(
    status: Annotated[CommentStatus | None, Query(description="Default: new")] = None,
    post_id: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    channel: Annotated[Channel | None, Query(description="With post_id")] = None,
    account_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> CommentListResponse:
    """By status (default ``new``), newest first; or a post's comments (``post_id`` with its
    ``channel`` and ``account_id``), oldest first, optionally of one status."""
    who = caller(app)
    page = comments.list_comments(
        get_repository(),
        who.workspace_id,
        post_id=post_id,
        channel=channel,
        account_id=account_id,
        status=status,
        limit=limit,
        cursor=cursor,
    )
    return CommentListResponse(items=page.items, next_cursor=page.next_cursor)


@app.get("/comments/<comment_id>", responses=responses())
def get_comment(comment_id: CommentId) -> Comment:
    who = caller(app)
    return comments.get_comment(get_repository(), who.workspace_id, comment_id)


@app.post("/comments/<comment_id>/hide", responses=responses())
def hide_comment(comment_id: CommentId) -> Comment:
    """Mark the comment hidden (idempotent)."""
    who = caller(app)
    return comments.mark_hidden(get_repository(), who.workspace_id, comment_id, now=utc_now())


@app.post("/comments/<comment_id>/replied", responses=responses())
def mark_comment_replied(comment_id: CommentId) -> Comment:
    """Mark the comment replied (idempotent)."""
    who = caller(app)
    return comments.mark_replied(get_repository(), who.workspace_id, comment_id, now=utc_now())


@app.post("/comments/<comment_id>/public-reply", responses=responses(201, "Reply recorded"))
def record_public_reply(
    comment_id: CommentId, command: Annotated[PublicReplyCommand, Body()]
) -> tuple[Comment, int]:
    """Record a public reply posted under the comment (the comment becomes ``replied``)."""
    who = caller(app)
    comment = comments.record_public_reply(
        get_repository(),
        who.workspace_id,
        comment_id,
        command,
        agent_id=who.agent_id,
        now=utc_now(),
    )
    return comment, 201


@app.post("/comments/<comment_id>/convert", responses=responses(201, "Ticket opened"))
def convert_comment(comment_id: CommentId) -> tuple[ConvertCommentResponse, int]:
    """Open (or join) the commenter's DM ticket and link both ways; 200 when the ticket existed
    (converting again, or concurrently, answers the same ticket)."""
    who = caller(app)
    result = comments.convert_comment(
        get_repository(), who.workspace_id, comment_id, actor=who.agent_id, now=utc_now()
    )
    body = ConvertCommentResponse(
        comment=result.comment, ticket=result.ticket, created=result.created
    )
    return body, 201 if result.created else 200


@app.post(
    "/comments/<comment_id>/private-reply",
    responses=responses(
        201, "Private reply stored and queued (a retry with the same client_message_id: 200)"
    ),
)
def private_reply(
    comment_id: CommentId, command: Annotated[PrivateReplyCommand, Body()]
) -> tuple[PrivateReplyResponse, int]:
    """One DM to the commenter (Meta: one per comment, within 7 days; Instagram Live only during
    the broadcast: 409 ``private_reply_not_allowed`` naming the reason), on their DM ticket."""
    who = caller(app)
    result = comments.private_reply(
        get_repository(),
        who.workspace_id,
        comment_id,
        command,
        agent_id=who.agent_id,
        now=utc_now(),
    )
    body = PrivateReplyResponse(comment=result.comment, message=result.message)
    return body, 201 if result.created else 200
