"""The SAM template in step with the code it deploys."""

from __future__ import annotations

import fnmatch
from datetime import date

from cfnlint.decode import decode

from datalake import layout
from datalake.csvs.files import CSV_FILES
from datalake.lake.parity import PARITY_PREFIX
from lambda_function import build
from sandbox.lambda_app import LocalFunction
from tests.conftest import REPO

TEMPLATE = REPO / "template.yaml"


def function_properties() -> dict:
    template, problems = decode(str(TEMPLATE))
    assert not problems
    return template["Resources"]["TmdbIngestFunction"]["Properties"]


def test_runtime_handler_and_code_are_the_ones_built():
    properties = function_properties()
    assert properties["Runtime"] == build.RUNTIME
    assert properties["Architectures"] == ["x86_64"]
    assert properties["Handler"] == LocalFunction.handler == "handler.lambda_handler"
    assert properties["CodeUri"] == str(build.OUTPUT.relative_to(REPO))


def test_put_object_is_granted_on_exactly_the_keys_the_lambda_writes():
    statements = function_properties()["Policies"][0]["Statement"]
    puts = [statement for statement in statements if statement["Action"] == "s3:PutObject"]
    assert len(puts) == 1 and puts[0]["Effect"] == "Allow"
    patterns = [
        resource["Fn::Sub"].replace("${AWS::Partition}", "aws").replace("${BucketName}", "lake")
        for resource in puts[0]["Resource"]
    ]

    def allowed(key: str) -> bool:
        return any(fnmatch.fnmatchcase(f"arn:aws:s3:::lake/{key}", pattern) for pattern in patterns)

    day = date(2026, 11, 27)
    for prefix in ("", PARITY_PREFIX):
        assert allowed(layout.discover_key(day, 1, prefix))
        assert allowed(layout.details_key(day, 209867, prefix))
    for csv_file in CSV_FILES:
        assert not allowed(layout.csv_key(csv_file, day))
    assert not allowed("Parity/Lambda/elsewhere.json")


def test_the_secret_is_the_only_other_grant():
    statements = function_properties()["Policies"][0]["Statement"]
    others = [statement for statement in statements if statement["Action"] != "s3:PutObject"]
    assert others == [
        {
            "Sid": "ReadTheTmdbCredential",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Ref": "TmdbSecretArn"},
        }
    ]
