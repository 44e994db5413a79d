"""The auto-close schedule: template.yaml vs the code and the sample event in events/auto_close/."""

import json

from local.auto_close_samples import AUTO_CLOSE_EVENTS_DIR, auto_close_events
from local.template import function_properties, load_template, schedules
from tests.helpers import load_event
from ticketing.services.auto_close import RESERVE_MS

TEMPLATE = load_template()
FUNCTION_ID = "AutoCloseFunction"


def test_the_function_runs_every_15_minutes_with_time_to_spare():
    # GIVEN the template's schedules
    found = [s for s in schedules(TEMPLATE) if s.function_id == FUNCTION_ID]
    # WHEN the auto-close function's are read
    timeout_ms = function_properties(TEMPLATE, FUNCTION_ID)["Timeout"] * 1000
    # THEN one rate(15 minutes) schedule, a handler in functions/auto_close, and a timeout well
    # above the reserve the run keeps (and below the rate: runs do not pile up)
    assert [(s.expression, s.code_uri, s.handler) for s in found] == [
        ("rate(15 minutes)", "functions/auto_close/", "app.lambda_handler")
    ]
    assert 4 * RESERVE_MS <= timeout_ms < 15 * 60 * 1000


def test_the_sample_is_the_scheduled_event_of_that_schedule():
    # GIVEN events/auto_close/auto_close_scheduled.json
    event = load_event("auto_close/auto_close_scheduled")
    (schedule,) = [s for s in schedules(TEMPLATE) if s.function_id == FUNCTION_ID]
    # WHEN its shape and rule are read
    (rule,) = event["resources"]
    # THEN it is EventBridge's Scheduled Event from the template's rule for the function
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["detail"] == {}
    assert rule.endswith(f":rule/{schedule.function_id}{schedule.event_id}")


def test_committed_sample_is_exactly_the_generated_one():
    # GIVEN the generated sample(s)
    generated = auto_close_events()
    # WHEN compared with events/auto_close/ (written by `python -m local.demo events`)
    committed = sorted(p.stem for p in AUTO_CLOSE_EVENTS_DIR.glob("*.json"))
    # THEN the same files, byte for byte
    assert committed == sorted(generated)
    for name, event in generated.items():
        expected = json.dumps(event, indent=2, ensure_ascii=False) + "\n"
        assert (AUTO_CLOSE_EVENTS_DIR / f"{name}.json").read_text() == expected
