"""Where the Lambda code shipped with the library lives.

The evaluator's source is kept in ``lambda/`` at the repository root. An installed wheel
carries the same folder inside the package as ``sagemaker_constructs/_lambda/`` (hatchling's
``force-include``). :func:`lambda_code_root` is the one place that resolves it, for a checkout
(including an editable install) and for an installed wheel alike.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["lambda_code_root"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def lambda_code_root() -> Path:
    """The folder that holds the ``canary_evaluator`` package (the Lambda asset root)."""
    candidates = (
        _PACKAGE_DIR / "_lambda",  # installed wheel
        _PACKAGE_DIR.parent.parent / "lambda",  # checkout: <repo>/constructs/sagemaker_constructs
    )
    for candidate in candidates:
        if (candidate / "canary_evaluator" / "handler.py").is_file():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"The canary evaluator's code was not found (searched: {searched}). "
        "Reinstall sagemaker-constructs: the wheel must carry sagemaker_constructs/_lambda/."
    )
