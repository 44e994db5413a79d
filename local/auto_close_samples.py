"""The auto-close schedule's sample event: what EventBridge sends ``AutoCloseFunction`` every 15
minutes (``sam local invoke AutoCloseFunction -e events/auto_close/auto_close_scheduled.json``).
Written by ``python -m local.demo events`` (or ``python -m local.auto_close_samples``); a contract
test checks it is a Scheduled Event of the template's schedule."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

AUTO_CLOSE_EVENTS_DIR = Path(__file__).resolve().parent.parent / "events" / "auto_close"
FUNCTION_ID = "AutoCloseFunction"
SCHEDULE_EVENT_ID = "AutoCloseSchedule"


def scheduled_event() -> dict[str, Any]:
    """EventBridge's "Scheduled Event" for the template's AutoCloseSchedule (fixed id and time,
    so the file never drifts; the function reads neither)."""
    return {
        "version": "0",
        "id": "5c1e4a8e-2f0b-4c6a-9a43-7d3f0e6b1a15",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2024-11-14T22:15:00Z",
        "region": "us-east-1",
        "resources": [
            f"arn:aws:events:us-east-1:123456789012:rule/{FUNCTION_ID}{SCHEDULE_EVENT_ID}"
        ],
        "detail": {},
    }


def auto_close_events() -> dict[str, Any]:
    return {"auto_close_scheduled": scheduled_event()}


def write_auto_close_events() -> None:
    AUTO_CLOSE_EVENTS_DIR.mkdir(parents=True, exist_ok=True)
    for name, data in auto_close_events().items():
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        (AUTO_CLOSE_EVENTS_DIR / f"{name}.json").write_text(text)


if __name__ == "__main__":
    if sys.argv[1:]:
        print("usage: python -m local.auto_close_samples", file=sys.stderr)
        sys.exit(2)
    write_auto_close_events()
