"""Facts about SageMaker hosting instance types that decide what an endpoint may request.

Sources: the ``CreateEndpointConfig`` API reference ("Certain Nitro-based instances include
local storage ... You can't request a ``KmsKeyId`` / ``VolumeSizeInGB`` when using an instance
type with local storage"), the EC2 instance-store table for the same families, the
deployment-guardrails exclusions (Inf1 falls back to all-at-once) and the Application Auto
Scaling documentation for SageMaker (burstable types cannot be scaled).

>>> has_local_nvme_storage("ml.g5.xlarge"), has_local_nvme_storage("ml.m5.large")
(True, False)
>>> is_burstable("ml.t2.medium"), is_burstable("ml.trn1.2xlarge")
(True, False)
>>> instance_family("ml.p4d.24xlarge")
'p4d'
"""

from __future__ import annotations

import re

__all__ = [
    "INSTANCE_TYPE_PATTERN",
    "LOCAL_NVME_FAMILIES",
    "has_local_nvme_storage",
    "instance_family",
    "is_burstable",
    "is_inferentia1",
]

#: ``ml.<family>.<size>``, for example ``ml.m5.xlarge`` or ``ml.p6-b200.48xlarge``.
INSTANCE_TYPE_PATTERN = re.compile(r"^ml\.([a-z][a-z0-9-]*)\.([a-z0-9]+)$")

#: Hosting instance families whose storage is local NVMe instance store, encrypted by a
#: hardware module. SageMaker provisions no EBS volume for them, so an endpoint
#: configuration that uses one of them must not set ``KmsKeyId`` nor ``VolumeSizeInGB``.
#: Every family whose EC2 name carries ``d`` (disk) plus the accelerated families that
#: ship with NVMe instance store.
LOCAL_NVME_FAMILIES: frozenset[str] = frozenset(
    {
        # general purpose / compute / memory optimised with instance store ("d")
        "c5d",
        "c6gd",
        "m5d",
        "m6gd",
        "r5d",
        "r6gd",
        "r7gd",
        # GPU and accelerator families with NVMe instance store
        "dl1",
        "g4dn",
        "g5",
        "g6",
        "g6e",
        "p3dn",
        "p4d",
        "p4de",
        "p5",
        "p5e",
        "p5en",
        "trn1",
        "trn1n",
        "trn2",
    }
)


def instance_family(instance_type: str) -> str | None:
    """The family of ``ml.<family>.<size>`` (``None`` when the name has another form)."""
    match = INSTANCE_TYPE_PATTERN.match(instance_type)
    return match.group(1) if match else None


def has_local_nvme_storage(instance_type: str) -> bool:
    """True when SageMaker hosts ``instance_type`` on local NVMe storage (no EBS volume)."""
    family = instance_family(instance_type)
    return family is not None and (
        family in LOCAL_NVME_FAMILIES or family.startswith(("p6", "p6e"))
    )


def is_burstable(instance_type: str) -> bool:
    """True for burstable ``ml.t*`` types, which Application Auto Scaling cannot scale."""
    family = instance_family(instance_type)
    return family is not None and re.fullmatch(r"t\d+[a-z]?", family) is not None


def is_inferentia1(instance_type: str) -> bool:
    """True for ``ml.inf1``: deployment guardrails fall back to all-at-once on these."""
    return instance_family(instance_type) == "inf1"
