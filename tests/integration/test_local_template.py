"""local.template reads template.yaml as SAM does: tables, routes, schedules, env and handlers."""

import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from local import auth
from local.template import (
    Route,
    Schedule,
    api_routes,
    create_tables,
    function_environment,
    interval_seconds,
    load_handler,
    load_template,
    parse_template,
    schedules,
    table_definitions,
)

ROOT = Path(__file__).resolve().parents[2]

SYNTHETIC = """
Parameters:
  Stage: {Type: String, Default: dev}
  NoDefault: {Type: String}
Globals:
  Function:
    Handler: app.lambda_handler
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        STAGE: !Ref Stage
        DEBUG: true
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub things-${Stage}
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: g, AttributeType: N}
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: by-g
          KeySchema: [{AttributeName: g, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
          ContributorInsightsSpecification: {Enabled: true}
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  OpenApi:
    Type: AWS::Serverless::Api
    Properties: {StageName: dev}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Environment:
        Variables:
          STAGE: own-value
          ARN: !GetAtt Table.Arn
          URL: !Sub https://${AWS::Region}
          MISSING: !Ref NoDefault
      Events:
        Nightly:
          Type: Schedule
          Properties: {Schedule: "cron(0 3 * * ? *)"}
        Often:
          Type: ScheduleV2
          Properties: {ScheduleExpression: rate(15 minutes), Input: '{"k": 1}'}
        Hook:
          Type: Api
          Properties: {RestApiId: !Ref OpenApi, Path: '/hooks/{id}', Method: post}
        Catch: {Type: HttpApi}
        Queue: {Type: SQS, Properties: {Queue: q}}
"""


def test_short_tags_become_long_form() -> None:
    # GIVEN CloudFormation short tags on scalars, sequences and mappings
    text = """
a: !Ref X
b: !GetAtt T.Arn
c: !Sub ['x-${y}', {y: !Ref Y}]
d: !If [c, 1, 2]
e: !Condition C
f: !Select [0, !GetAZs '']
"""

    # WHEN the template loader reads them
    loaded = parse_template(text)

    # THEN they are the long (JSON) form
    assert loaded == {
        "a": {"Ref": "X"},
        "b": {"Fn::GetAtt": ["T", "Arn"]},
        "c": {"Fn::Sub": ["x-${y}", {"y": {"Ref": "Y"}}]},
        "d": {"Fn::If": ["c", 1, 2]},
        "e": {"Condition": "C"},
        "f": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
    }


def _indexes(definition: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    indexes = definition.get("GlobalSecondaryIndexes", [])
    return [(index["IndexName"], index["KeySchema"], index["Projection"]) for index in indexes]


def test_table_definitions_follow_template_yaml() -> None:
    # GIVEN the project's template
    template = load_template()
    tables = {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }

    # WHEN its tables are turned into create_table kwargs
    definitions = table_definitions(template)

    # THEN keys, attributes, GSIs, billing and TTL are the template's own
    # AND CloudFormation-only keys are gone
    assert [definition["logical_id"] for definition in definitions] == list(tables)
    for definition in definitions:
        properties = tables[definition["logical_id"]]
        kwargs = definition["create_table_kwargs"]
        assert kwargs["KeySchema"] == properties["KeySchema"]
        assert kwargs["AttributeDefinitions"] == properties["AttributeDefinitions"]
        assert kwargs.get("BillingMode") == properties.get("BillingMode")
        assert _indexes(kwargs) == _indexes(properties)
        ttl = properties.get("TimeToLiveSpecification", {})
        assert definition["ttl_attribute"] == ttl.get("AttributeName")
        cloudformation_only = {
            "TableName",
            "TimeToLiveSpecification",
            "PointInTimeRecoverySpecification",
        }
        assert not cloudformation_only & set(kwargs)


def test_table_definitions_keep_only_what_create_table_accepts() -> None:
    # GIVEN a table with a stream, a GSI with a CloudFormation-only setting and no TTL
    # WHEN it is converted
    [definition] = table_definitions(parse_template(SYNTHETIC))

    # THEN the stream is enabled, the GSI has only boto3 keys and there is no TTL attribute
    kwargs = definition["create_table_kwargs"]
    assert kwargs["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    [index] = kwargs["GlobalSecondaryIndexes"]
    assert set(index) == {"IndexName", "KeySchema", "Projection"}
    assert definition["ttl_attribute"] is None


def test_create_tables_builds_the_template_table_on_dynamodb_local(dynamodb_local: str) -> None:
    # GIVEN DynamoDB Local and a fresh table name
    client = boto3.client(
        "dynamodb", endpoint_url=dynamodb_local, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip
    template = load_template()
    [definition] = table_definitions(template)
    name = f"test-{uuid.uuid4().hex[:8]}"

    # WHEN the tables are created twice (the second call must be a no-op)
    create_tables(client, template, {definition["logical_id"]: name})
    create_tables(client, template, {definition["logical_id"]: name})

    # THEN the table has the template's keys, GSIs and TTL
    table = client.describe_table(TableName=name)["Table"]
    kwargs = definition["create_table_kwargs"]
    assert table["KeySchema"] == kwargs["KeySchema"]
    created = {i["IndexName"]: i["KeySchema"] for i in table.get("GlobalSecondaryIndexes", [])}
    assert created == {i["IndexName"]: i["KeySchema"] for i in kwargs["GlobalSecondaryIndexes"]}
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl.get("TimeToLiveStatus") == "ENABLED"
    assert ttl.get("AttributeName") == definition["ttl_attribute"]


def test_api_routes_match_the_template_events() -> None:
    # GIVEN the project's template and its Api events, read straight from the YAML
    template = load_template()
    expected = {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"], function_id, event_id)
        for function_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        for event_id, event in resource["Properties"].get("Events", {}).items()
        if event["Type"] in ("Api", "HttpApi")
    }

    # WHEN routes are derived
    routes = api_routes(template)

    # THEN there is one per event, pointing at its function's code
    # AND only the Authorizer: NONE routes are open (the API has a default authorizer)
    assert {(r.method, r.path, r.function_id, r.event_id) for r in routes} == expected
    for route in routes:
        properties = template["Resources"][route.function_id]["Properties"]
        event = properties["Events"][route.event_id]["Properties"]
        assert (route.code_uri, route.handler) == (properties["CodeUri"], properties["Handler"])
        assert route.auth_none == (event.get("Auth", {}).get("Authorizer") == "NONE")


def test_api_routes_of_an_api_without_authorizer_are_open() -> None:
    # GIVEN an Api without DefaultAuthorizer and an HttpApi event without Path or Method
    # WHEN routes are derived
    routes = {route.event_id: route for route in api_routes(parse_template(SYNTHETIC))}

    # THEN both are open, the method is upper case and the HttpApi one is the catch-all
    # AND the handler comes from Globals
    assert routes == {
        "Hook": Route("POST", "/hooks/{id}", "Worker", "functions/worker/", "app.lambda_handler",
                      auth_none=True, event_id="Hook"),
        "Catch": Route("ANY", "/{proxy+}", "Worker", "functions/worker/", "app.lambda_handler",
                       auth_none=True, event_id="Catch"),
    }  # fmt: skip


def test_schedules_parse_rate_and_cron() -> None:
    # GIVEN a Schedule (cron) and a ScheduleV2 (rate, with Input) event
    # WHEN schedules are derived
    found = {schedule.event_id: schedule for schedule in schedules(parse_template(SYNTHETIC))}

    # THEN rate() is in seconds, cron() runs every minute locally and Input is kept
    assert found == {
        "Often": Schedule("Worker", "functions/worker/", "app.lambda_handler", "rate(15 minutes)",
                          900, "Often", input='{"k": 1}'),
        "Nightly": Schedule("Worker", "functions/worker/", "app.lambda_handler",
                            "cron(0 3 * * ? *)", 60, "Nightly"),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(2 hours)", 7200), ("rate(1 day)", 86400)],
)
def test_interval_seconds(expression: str, seconds: int) -> None:
    assert interval_seconds(expression) == seconds


def test_interval_seconds_rejects_unknown_expressions() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        interval_seconds("at(2030-01-01T00:00:00)")


def test_function_environment_resolves_refs_and_skips_the_rest() -> None:
    # GIVEN globals and own variables with refs to a table and parameters, a GetAtt and a Sub
    template = parse_template(SYNTHETIC)

    # WHEN the function's local environment is built with a local table name and an override
    env = function_environment(template, "Worker", {"DEBUG": "false"}, {"Table": "things-local"})

    # THEN table refs are the local name, parameter refs their default, own values win,
    # overrides win last, and what cannot be resolved locally is left out
    assert env == {"TABLE_NAME": "things-local", "STAGE": "own-value", "DEBUG": "false"}


def test_function_environment_of_the_project_template() -> None:
    # GIVEN the project's template
    template = load_template()
    global_vars = template["Globals"]["Function"]["Environment"]["Variables"]

    # WHEN the webhook function's environment is built
    env = function_environment(
        template, "WebhookIngestFunction", table_names={"TicketTable": "ticket-engine-local"}
    )

    # THEN globals and parameter defaults are there
    assert env["TABLE_NAME"] == "ticket-engine-local"
    assert env["POWERTOOLS_SERVICE_NAME"] == global_vars["POWERTOOLS_SERVICE_NAME"]
    assert env["META_APP_ID"] == str(template["Parameters"]["MetaAppId"]["Default"])


def test_load_handler_imports_code_uri_as_a_package() -> None:
    # GIVEN a code uri folder and a "module.attribute" handler
    # WHEN it is loaded
    handler = load_handler("local/", "auth.mint_token")

    # THEN it is that attribute of the <folder>.<module> module
    assert handler is auth.mint_token  # type: ignore[comparison-overlap]


def test_every_template_function_has_a_code_uri_folder() -> None:
    # GIVEN the project's routes and schedules
    template = load_template()
    targets: list[Route | Schedule] = [*api_routes(template), *schedules(template)]

    # THEN each one names a folder of the project (what load_handler will import)
    for target in targets:
        assert (ROOT / target.code_uri).is_dir(), target
