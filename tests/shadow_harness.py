"""End-to-end harness of ``ShadowEvaluation``: its synthesized state machine in moto's Step
Functions engine, with the evaluator in-process and CloudWatch as strict as AWS.

Everything the rollout's harness provides is used as it is (``rollout_harness``: the template
resolver, the moto adapters, the shared resources, the inbox, the execution helpers;
``strict_aws``: the simulated clock, CloudWatch and the evaluator's boundary). This module adds
what a shadow variant needs:

- **Shadow variants in moto** (:func:`bridge_shadow_variants`, the one place that adds them).
  AWS, per the SageMaker API reference: ``CreateEndpointConfig`` takes
  ``ShadowProductionVariants`` ("If you use this field, you can only specify one variant for
  ProductionVariants and one variant for ShadowProductionVariants"), ``DescribeEndpointConfig``
  returns them, and ``DescribeEndpoint`` returns ``ShadowProductionVariants``: "An array of
  ProductionVariantSummary objects, one for each model that you want to host at this endpoint
  in shadow mode" (an endpoint without a shadow variant has no such key). moto 5.2 drops the
  parameter in ``CreateEndpointConfig`` (``DescribeEndpointConfig`` and ``DescribeEndpoint``
  never return it) and accepts a shadow variant beside two production variants. The bridge
  keeps the shadow variants of a configuration, reports them for an endpoint created from it
  (summarised as moto summarises production variants: ``CurrentWeight``,
  ``CurrentInstanceCount`` and their desired values) and rejects a configuration that breaks
  the one-and-one rule with a ``ValidationException``.
- **Shadow traffic** (:class:`ShadowTraffic`): the production variant serves every request;
  SageMaker replicates ``sampling`` percent of them to the shadow variant, which answers
  nobody (SageMaker Developer Guide, "Create a shadow test": a shadow variant "receives a
  percentage of the incoming requests, replicated from the production variant, but does not
  return any responses"). Each copy is served by the shadow with its own behaviour, at the same
  moment. Both variants' metrics are published under their own ``VariantName`` (the shadow
  test's dashboard compares the two variants' invocation metrics, "Monitor a shadow test").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import numpy as np
from aws_cdk import aws_ec2 as ec2
from rollout_harness import ACCOUNT, REGION, clients, resolve
from strict_aws import RequestProfile, StrictAws, StrictTraffic

from sagemaker_constructs.rollout import ShadowEvaluation

# -- synthesis ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShadowSpec:
    """One ShadowEvaluation to synthesize, bound to a named endpoint."""

    construct_id: str
    endpoint_name: str


@dataclass
class _EndpointRef:
    endpoint_name: str
    endpoint_arn: str


def synthesize_shadows(
    outdir: str,
    stack_id: str,
    specs: Sequence[ShadowSpec],
    *,
    production: str,
    shadow: str,
) -> dict[str, Any]:
    """Synthesize one stack with a ShadowEvaluation (every default) per spec; its template."""
    app = cdk.App(outdir=outdir)
    stack = cdk.Stack(app, stack_id, env=cdk.Environment(account=ACCOUNT, region=REGION))
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr_block="10.0.0.0/16",
        availability_zones=["us-east-1a", "us-east-1b"],
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    )
    for spec in specs:
        arn = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=spec.endpoint_name
        )
        ShadowEvaluation(
            stack,
            spec.construct_id,
            endpoint=_EndpointRef(spec.endpoint_name, arn),
            production_variant=production,
            shadow_variant=shadow,
            vpc=vpc,
        )
    app.synth()
    with open(f"{outdir}/{stack_id}.template.json") as handle:
        template: dict[str, Any] = json.load(handle)
    return template


@dataclass(frozen=True)
class SynthesizedShadow:
    """One ShadowEvaluation's state machine in a synthesized template."""

    definition_string: Any  # the template's DefinitionString (Fn::Join with tokens)
    state_machine_name: str
    endpoint_name: str  # the literal endpoint name the construct was bound to
    evaluator_id: str
    topic_id: str

    def definition_for(
        self, *, state_machine_name: str, endpoint_name: str, evaluator_arn: str, topic_arn: str
    ) -> str:
        """The ASL JSON bound to the moto resources of one scenario."""
        text = resolve(
            self.definition_string,
            refs={self.topic_id: topic_arn},
            attrs={(self.evaluator_id, "Arn"): evaluator_arn},
        )
        assert isinstance(text, str)
        text = text.replace(
            f":stateMachine:{self.state_machine_name}", f":stateMachine:{state_machine_name}"
        )
        return text.replace(self.endpoint_name, endpoint_name)


def find_shadow(
    template: Mapping[str, Any], construct_path_part: str, endpoint_name: str
) -> SynthesizedShadow:
    """The state machine, evaluator and topic of the evaluation whose ids start with ``part``."""
    resources = template["Resources"]

    def one(kind: str, part: str = "") -> str:
        ids = [
            logical_id
            for logical_id, resource in resources.items()
            if resource["Type"] == kind and logical_id.startswith(construct_path_part + part)
        ]
        assert len(ids) == 1, (kind, ids)
        return str(ids[0])

    machine = resources[one("AWS::StepFunctions::StateMachine")]["Properties"]
    return SynthesizedShadow(
        definition_string=machine["DefinitionString"],
        state_machine_name=machine["StateMachineName"],
        endpoint_name=endpoint_name,
        evaluator_id=one("AWS::Lambda::Function", "Evaluator"),
        topic_id=one("AWS::SNS::Topic"),
    )


# -- shadow variants in moto (see the module docstring) ------------------------------------


def bridge_shadow_variants() -> Callable[[], None]:
    """Give moto's SageMaker the shadow variants AWS has; returns the undo."""
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    original_config = SageMakerResponse.create_endpoint_config
    original_endpoint = SageMakerModelBackend.create_endpoint

    def create_endpoint_config(self: Any) -> Any:
        shadows = self._get_param("ShadowProductionVariants") or []
        if shadows:
            production = self._get_param("ProductionVariants") or []
            if len(production) != 1 or len(shadows) != 1:
                raise ValidationError(
                    message="With ShadowProductionVariants, ProductionVariants and "
                    "ShadowProductionVariants must each hold exactly one variant "
                    f"(got {len(production)} and {len(shadows)})."
                )
            self.sagemaker_backend.validate_production_variants(shadows)  # their models exist
        answer = original_config(self)
        if shadows:
            config = self.sagemaker_backend.endpoint_configs[self._get_param("EndpointConfigName")]
            # moto's response_object reports every attribute under its CamelCase name
            config.shadow_production_variants = shadows
        return answer

    def create_endpoint(
        self: Any, endpoint_name: str, endpoint_config_name: str, tags: list[dict[str, str]]
    ) -> Any:
        endpoint = original_endpoint(self, endpoint_name, endpoint_config_name, tags)
        config = self.endpoint_configs[endpoint_config_name]
        shadows = getattr(config, "shadow_production_variants", None)
        if shadows:
            summaries = endpoint._process_production_variants(shadows)
            endpoint.shadow_production_variants = summaries  # type: ignore[attr-defined]
        return endpoint

    SageMakerResponse.create_endpoint_config = create_endpoint_config  # type: ignore[method-assign]
    SageMakerModelBackend.create_endpoint = create_endpoint  # type: ignore[method-assign]

    def undo() -> None:
        SageMakerResponse.create_endpoint_config = original_config  # type: ignore[method-assign]
        SageMakerModelBackend.create_endpoint = original_endpoint  # type: ignore[method-assign]

    return undo


def create_shadow_endpoint(
    name: str, production: str, shadow: str | None, *, model: str = "model"
) -> None:
    """A moto endpoint with one production variant and, unless ``shadow`` is ``None``, one
    shadow variant (both of ``model``, one instance each, weight 1 as AWS's example has)."""

    def variant(variant_name: str) -> dict[str, Any]:
        return {
            "VariantName": variant_name,
            "ModelName": model,
            "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large",
            "InitialVariantWeight": 1.0,
        }

    sm = clients()["sagemaker"]
    config: dict[str, Any] = {
        "EndpointConfigName": f"{name}-config",
        "ProductionVariants": [variant(production)],
    }
    if shadow is not None:
        config["ShadowProductionVariants"] = [variant(shadow)]
    sm.create_endpoint_config(**config)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")


# -- traffic --------------------------------------------------------------------------------


class ShadowTraffic(StrictTraffic):
    """Requests at ``rate`` per simulated second, all served by the production variant;
    ``sampling`` percent of them copied to the shadow variant (see the module docstring).

    ``profile(sampling)`` gives (production behaviour, shadow behaviour).
    """

    def __init__(
        self,
        aws: StrictAws,
        endpoint: str,
        production: str,
        shadow: str,
        profile: RequestProfile,
        *,
        sampling: float,
        rate: float = 20.0,
        tick: float = 0.05,
        seed: int = 0,
    ) -> None:
        super().__init__(
            aws,
            endpoint,
            production,
            shadow,
            profile,
            lambda _endpoint: {production: 100.0},
            rate=rate,
            tick=tick,
            seed=seed,
        )
        self.sampling = sampling

    def _serve(self, start: float, end: float) -> None:
        count = int(self.rng.poisson(self.rate * (end - start)))
        times = np.sort(self.rng.uniform(start, end, count))
        copied = self.rng.random(count) < self.sampling / 100.0
        production, shadow = self.profile(self.sampling)
        for variant, behaviour, served in (
            (self.baseline, production, times),
            (self.canary, shadow, times[copied]),
        ):
            n = served.size
            if not n:
                continue
            latencies = 20_000.0 * behaviour.latency_factor * self.rng.lognormal(0.0, 0.25, n)
            statuses = np.where(self.rng.random(n) < behaviour.error_rate, 500, 200)
            self.aws.cloudwatch.record(self.endpoint, variant, served, latencies, statuses)
