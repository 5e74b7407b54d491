"""A user's CDK app that uses sagemaker_constructs from an installed wheel.

Run by tests/test_packaging.py with the wheel's virtual environment; prints a JSON summary.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

import sagemaker_constructs
from sagemaker_constructs import (
    AsyncInference,
    CanaryRollout,
    ComponentEndpoint,
    ComponentVariant,
    ComputeRequirements,
    ContainerDefinition,
    ContainerImage,
    Endpoint,
    InferenceComponent,
    Model,
    ModelData,
    ModelPackageGroup,
    Notebook,
    Pipeline,
    PipelineDefinition,
    ProductionVariant,
    VariantAutoscaling,
    add_compliance_checks,
)
from sagemaker_constructs._assets import lambda_code_root

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
DEFINITION = {
    "Version": "2020-12-01",
    "Parameters": [{"Name": "InputDataUrl", "Type": "String", "DefaultValue": "s3://b/in/"}],
    "Steps": [
        {
            "Name": "Preprocess",
            "Type": "Processing",
            "Arguments": {
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": "ml.m5.xlarge",
                        "VolumeSizeInGB": 30,
                    }
                },
                "AppSpecification": {"ImageUri": "${ImageUri}"},
                "RoleArn": "${RoleArn}",
                "ProcessingInputs": [
                    {
                        "InputName": "input",
                        "S3Input": {
                            "S3Uri": {"Get": "Parameters.InputDataUrl"},
                            "LocalPath": "/opt/ml/processing/input",
                            "S3DataType": "S3Prefix",
                            "S3InputMode": "File",
                        },
                    }
                ],
            },
        }
    ],
}


def _definition(state_machine: dict[str, Any]) -> dict[str, Any]:
    """A synthesized state machine's definition, its CloudFormation tokens as ``"TOKEN"``."""
    parts = state_machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    definition: dict[str, Any] = json.loads(
        "".join(part if isinstance(part, str) else "TOKEN" for part in parts)
    )
    return definition


def _state_names(definition: dict[str, Any]) -> set[str]:
    """Every state's name, in parallel branches too."""
    names: set[str] = set()
    for name, state in definition["States"].items():
        names.add(name)
        for branch in state.get("Branches", []):
            names |= _state_names(branch)
    return names


def main(outdir: str) -> None:
    app = cdk.App(
        outdir=outdir,
        context={
            "@aws-cdk/core:validationReportJson": True,
            "aws:cdk:enable-asset-metadata": True,
        },
    )
    add_compliance_checks(app)
    stack = cdk.Stack(
        app, "Consumer", env=cdk.Environment(account="111111111111", region="us-east-1")
    )
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr_block="10.0.0.0/16",
        availability_zones=["us-east-1a", "us-east-1b"],
        isolated_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    )
    models = s3.Bucket.from_bucket_name(stack, "Models", "consumer-models-111111111111")
    model = Model(
        stack,
        "Model",
        containers=[
            ContainerDefinition(
                image=ContainerImage.from_registry(
                    "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"
                ),
                model_data=ModelData.from_bucket(models, "classifier/model.tar.gz"),
            )
        ],
        vpc=vpc,
        network_isolation=True,
    )
    # an autoscaled endpoint and its canary rollout: both variants are scalable targets, so the
    # rollout gives the canary its share of the instances before each step's weights move
    # (capacity before traffic; no instance_scaling, which autoscaled variants exclude)
    endpoint = Endpoint(
        stack,
        "Endpoint",
        variants=[
            ProductionVariant(
                variant_name="baseline",
                model=model,
                instance_type="ml.m5.large",
                initial_instance_count=2,
                autoscaling=VariantAutoscaling(
                    min_capacity=2, max_capacity=4, target_invocations_per_instance=750
                ),
            ),
            ProductionVariant(
                variant_name="candidate",
                model=model,
                instance_type="ml.m5.large",
                initial_variant_weight=0,
                autoscaling=VariantAutoscaling(max_capacity=3, target_invocations_per_instance=750),
            ),
        ],
    )
    rollout = CanaryRollout(
        stack,
        "Rollout",
        endpoint=endpoint,
        baseline_variant="baseline",
        canary_variant="candidate",
        vpc=vpc,
    )
    notebook = Notebook(stack, "Notebook", vpc=vpc)
    notebook.grant_invoke_endpoint(endpoint)
    job_role = iam.Role(
        stack, "JobRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com")
    )
    pipeline = Pipeline(
        stack,
        "Pipeline",
        definition=PipelineDefinition.from_dict(DEFINITION),
        substitutions={
            "RoleArn": job_role.role_arn,
            "ImageUri": SKLEARN_IMAGE,
        },
        job_role=job_role,
    )
    # the model registry: a group test and prod may read, and a model served from version 1
    registry = ModelPackageGroup(
        stack,
        "Registry",
        model_package_group_name="consumer-models",
        read_accounts=["222222222222", "333333333333"],
    )
    registry.grant_register(pipeline)  # its RegisterModel steps
    registry_model = Model(
        stack,
        "RegistryModel",
        containers=[
            ContainerDefinition.from_model_package(
                registry.package_arn(1),
                artifacts_bucket=models,
                artifacts_key="registry/",
            )
        ],
        vpc=vpc,
        network_isolation=True,
    )
    # an asynchronous endpoint that scales to zero, and an endpoint of inference components
    async_endpoint = Endpoint(
        stack,
        "AsyncEndpoint",
        endpoint_name="consumer-async",
        variants=[ProductionVariant(variant_name="main", model=model, instance_type="ml.m5.large")],
        async_inference=AsyncInference(bucket=models),
    )
    async_endpoint.scale_async_on_backlog("main", max_capacity=2)
    components = ComponentEndpoint(
        stack,
        "Components",
        endpoint_name="consumer-components",
        variants=[ComponentVariant(variant_name="main", instance_type="ml.m5.xlarge")],
    )
    InferenceComponent(
        stack,
        "Classifier",
        endpoint=components,
        variant_name="main",
        model=model,
        compute=ComputeRequirements(min_memory_required_in_mb=1024),
    )
    cdk.CfnOutput(stack, "LibraryVersion", value=sagemaker_constructs.__version__)
    app.synth()
    template = json.loads((Path(outdir) / "Consumer.template.json").read_text())
    function = rollout.evaluator.node.default_child
    assert isinstance(function, cdk.CfnElement)
    evaluator = template["Resources"][stack.get_logical_id(function)]
    asset_hash = evaluator["Metadata"]["aws:asset:path"]
    state_machine = rollout.state_machine.node.default_child
    assert isinstance(state_machine, cdk.CfnElement)
    rollout_resource = template["Resources"][stack.get_logical_id(state_machine)]
    asset_files = sorted(
        str(p.relative_to(Path(outdir) / asset_hash))
        for p in (Path(outdir) / asset_hash).rglob("*.py")
    )
    print(
        json.dumps(
            {
                "module": str(Path(sagemaker_constructs.__file__).resolve()),
                "lambda_code_root": str(lambda_code_root()),
                "templates": sorted(p.name for p in Path(outdir).glob("*.template.json")),
                "resource_types": sorted({r["Type"] for r in template["Resources"].values()}),
                "evaluator_asset_files": asset_files,
                "registry_model_container": template["Resources"][
                    stack.get_logical_id(registry_model.resource)
                ]["Properties"]["PrimaryContainer"],
                "endpoint_logical_id": stack.get_logical_id(endpoint.resource),
                "variant_scalable_targets": {
                    variant: template["Resources"][stack.get_logical_id(target)]["Properties"]
                    for variant, target in endpoint.scalable_targets.items()
                },
                "rollout_states": sorted(_state_names(_definition(rollout_resource))),
                "rollout_tags": {
                    t["Key"]: t["Value"] for t in rollout_resource["Properties"]["Tags"]
                },
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
