import json

from functions.webhook_ingest.app import lambda_handler as ingest
from tests.helpers import FakeLambdaContext


def test_signed_messenger_message_creates_ticket(accounts, repo):
    # GIVEN a signed Messenger webhook for a connected Page
    event = accounts.messenger(accounts.messenger_message("mid-1", "hello"))
    # WHEN it is posted
    response = ingest(event, FakeLambdaContext())
    # THEN it is stored on a new open ticket
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["outcomes"] == {"created": 1}
    page = repo.list_tickets(accounts.workspace_id, "open", 10, None)
    assert [t.messages_in for t in page.items] == [1]
