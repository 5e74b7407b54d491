"""A user's CDK app that uses sagemaker_constructs from an installed wheel.

Run by tests/test_packaging.py with the wheel's virtual environment; prints a JSON summary.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import aws_cdk as cdk

import sagemaker_constructs
from sagemaker_constructs import add_compliance_checks
from sagemaker_constructs._assets import lambda_code_root


def main(outdir: str) -> None:
    app = cdk.App(outdir=outdir, context={"@aws-cdk/core:validationReportJson": True})
    add_compliance_checks(app)
    stack = cdk.Stack(
        app, "Consumer", env=cdk.Environment(account="111111111111", region="us-east-1")
    )
    cdk.CfnOutput(stack, "LibraryVersion", value=sagemaker_constructs.__version__)
    app.synth()
    print(
        json.dumps(
            {
                "module": str(Path(sagemaker_constructs.__file__).resolve()),
                "lambda_code_root": str(lambda_code_root()),
                "templates": sorted(p.name for p in Path(outdir).glob("*.template.json")),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
