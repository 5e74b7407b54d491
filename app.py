#!/usr/bin/env python3
"""The CDK app: reads configuration from cdk.json context and builds every environment.

npx cdk synth                      # all environments
npx cdk synth -c environments=dev  # only dev
"""

from __future__ import annotations

import sys

import aws_cdk as cdk

from stacks.app import build_app
from stacks.config import ConfigError


def main() -> int:
    app = cdk.App()
    try:
        build_app(app)
    except ConfigError as error:
        for line in str(error).splitlines():
            print(f"Configuration error: {line}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
