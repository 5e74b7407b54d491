"""Make the Lambda's source folder importable: tests import the package as ``canary_evaluator``."""

from __future__ import annotations

import sys
from pathlib import Path

LAMBDA_ROOT = str(Path(__file__).resolve().parents[2] / "lambda")
if LAMBDA_ROOT not in sys.path:
    sys.path.insert(0, LAMBDA_ROOT)
