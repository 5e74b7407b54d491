# The SDK is not installed where the project's type check runs (it is no dependency):
# mypy: disable-error-code="import-not-found"
"""Generate the SDK pipeline fixtures of this folder with the real SageMaker Python SDK.

Not part of the test run and not a dependency of the project: run it by hand in a throwaway
virtual environment when a new SDK release adds step types, then commit what it writes::

    python3 -m venv /tmp/sdkvenv
    /tmp/sdkvenv/bin/pip install 'sagemaker<3'
    /tmp/sdkvenv/bin/python tests/data/sdk_pipelines/generate.py

It writes one ``<name>.json`` per pipeline (the text ``pipeline.definition()`` returns,
re-indented) and ``manifest.json`` with the SDK's version, the values of its
``StepTypeEnum`` and, per fixture, the step types it uses. Nothing calls AWS: the session
has fake credentials, a fixed region and a default bucket, and every AWS endpoint is
pointed at a closed local port so an accidental call fails at once instead of reaching
the network.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Before the SDK is imported: no network, no SDK banner, no config file lookups.
os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["HTTPS_PROXY"] = os.environ["HTTP_PROXY"] = "http://127.0.0.1:9"
os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"

import boto3
import sagemaker
from sagemaker import image_uris
from sagemaker.automl.automl import AutoML, AutoMLInput
from sagemaker.clarify import BiasConfig, DataConfig
from sagemaker.drift_check_baselines import DriftCheckBaselines
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.lambda_helper import Lambda
from sagemaker.lineage.action import Action
from sagemaker.lineage.artifact import Artifact
from sagemaker.model import Model
from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.model_monitor import DatasetFormat
from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.s3 import S3Uploader
from sagemaker.sklearn.processing import SKLearnProcessor
from sagemaker.transformer import Transformer
from sagemaker.tuner import ContinuousParameter, HyperparameterTuner
from sagemaker.workflow.automl_step import AutoMLStep
from sagemaker.workflow.callback_step import (
    CallbackOutput,
    CallbackOutputTypeEnum,
    CallbackStep,
)
from sagemaker.workflow.check_job_config import CheckJobConfig
from sagemaker.workflow.clarify_check_step import (
    ClarifyCheckStep,
    DataBiasCheckConfig,
)
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.workflow.emr_step import EMRStep, EMRStepConfig
from sagemaker.workflow.endpoint_step import EndpointConfigStep, EndpointStep
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.inference_component_step import InferenceComponentStep
from sagemaker.workflow.lambda_step import (
    LambdaOutput,
    LambdaOutputTypeEnum,
    LambdaStep,
)
from sagemaker.workflow.lineage_step import (
    LineageAssociation,
    LineageEntityReference,
    LineageStep,
)
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parameters import (
    ParameterFloat,
    ParameterInteger,
    ParameterString,
)
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.quality_check_step import (
    DataQualityCheckConfig,
    QualityCheckStep,
)
from sagemaker.workflow.retry import (
    SageMakerJobExceptionTypeEnum,
    SageMakerJobStepRetryPolicy,
    StepExceptionTypeEnum,
    StepRetryPolicy,
)
from sagemaker.workflow.steps import (
    CacheConfig,
    ProcessingStep,
    StepTypeEnum,
    TrainingStep,
    TransformStep,
    TuningStep,
)

HERE = Path(__file__).resolve().parent
REGION = "us-east-1"
ACCOUNT = "111111111111"
BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/pipeline-jobs"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:evaluate-model"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/pipeline-callbacks"
CLUSTER_ID = "j-1ABCDEFGHIJKL"

session = PipelineSession(
    boto_session=boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=REGION,
    ),
    default_bucket=BUCKET,
    # No telemetry requests, and no configuration read from a file or S3.
    sagemaker_config={
        "SchemaVersion": "1.0",
        "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
    },
)
# The SDK asks STS for the account when it needs the default bucket: answer locally.
session._default_bucket = BUCKET


def _upload(local_path: str, desired_s3_uri: str, *args: Any, **kwargs: Any) -> str:
    """Clarify checks upload their analysis configurations while the definition is built;
    here only the S3 URI is computed (the files are not part of a definition)."""
    return f"{desired_s3_uri.rstrip('/')}/{os.path.basename(local_path)}"


def _upload_string(body: str, desired_s3_uri: str, *args: Any, **kwargs: Any) -> str:
    return desired_s3_uri


S3Uploader.upload = staticmethod(_upload)
S3Uploader.upload_string_as_file_body = staticmethod(_upload_string)

CACHE = CacheConfig(enable_caching=True, expire_after="P30D")
RETRY = [
    StepRetryPolicy(exception_types=[StepExceptionTypeEnum.THROTTLING], max_attempts=3),
    SageMakerJobStepRetryPolicy(
        exception_types=[SageMakerJobExceptionTypeEnum.CAPACITY_ERROR], max_attempts=2
    ),
]

input_data = ParameterString(name="InputDataUrl", default_value=f"s3://{BUCKET}/abalone/raw")
instance_type = ParameterString(name="ProcessingInstanceType", default_value="ml.m5.xlarge")
instance_count = ParameterInteger(name="InstanceCount", default_value=1)
threshold = ParameterFloat(name="MseThreshold", default_value=6.0)
approval = ParameterString(name="ModelApprovalStatus", default_value="PendingManualApproval")

XGBOOST = image_uris.retrieve("xgboost", REGION, version="1.7-1")


def _processing(name: str = "PreprocessData") -> ProcessingStep:
    processor = SKLearnProcessor(
        framework_version="1.2-1",
        role=ROLE,
        instance_type=instance_type,
        instance_count=instance_count,
        sagemaker_session=session,
    )
    step_args = processor.run(
        inputs=[ProcessingInput(source=input_data, destination="/opt/ml/processing/input")],
        outputs=[
            ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
            ProcessingOutput(output_name="test", source="/opt/ml/processing/test"),
        ],
        code=f"s3://{BUCKET}/code/preprocess.py",
    )
    return ProcessingStep(name=name, step_args=step_args, cache_config=CACHE, retry_policies=RETRY)


def _estimator() -> Estimator:
    estimator = Estimator(
        image_uri=XGBOOST,
        role=ROLE,
        instance_type="ml.m5.xlarge",
        instance_count=1,
        output_path=f"s3://{BUCKET}/abalone/models",
        sagemaker_session=session,
    )
    estimator.set_hyperparameters(objective="reg:squarederror", num_round=50)
    return estimator


def _training(prepare: ProcessingStep) -> TrainingStep:
    step_args = _estimator().fit(
        inputs={
            "train": TrainingInput(
                s3_data=prepare.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri,
                content_type="text/csv",
            )
        }
    )
    return TrainingStep(name="TrainModel", step_args=step_args, cache_config=CACHE)


def _model(train: TrainingStep) -> Model:
    return Model(
        image_uri=XGBOOST,
        model_data=train.properties.ModelArtifacts.S3ModelArtifacts,
        role=ROLE,
        sagemaker_session=session,
    )


def _pipeline(name: str, steps: list[Any], parameters: list[Any]) -> Pipeline:
    return Pipeline(name=name, parameters=parameters, steps=steps, sagemaker_session=session)


# --------------------------------------------------------------------------- one per step type


def processing() -> Pipeline:
    return _pipeline("processing", [_processing()], [input_data, instance_type, instance_count])


def training() -> Pipeline:
    prepare = _processing()
    return _pipeline(
        "training", [prepare, _training(prepare)], [input_data, instance_type, instance_count]
    )


def tuning() -> Pipeline:
    tuner = HyperparameterTuner(
        estimator=_estimator(),
        objective_metric_name="validation:rmse",
        objective_type="Minimize",
        hyperparameter_ranges={"eta": ContinuousParameter(0.05, 0.5)},
        max_jobs=4,
        max_parallel_jobs=2,
    )
    step_args = tuner.fit(inputs={"train": TrainingInput(s3_data=input_data)})
    step = TuningStep(name="TuneModel", step_args=step_args, retry_policies=RETRY)
    return _pipeline("tuning", [step], [input_data])


def model_and_transform() -> Pipeline:
    prepare = _processing()
    train = _training(prepare)
    create = ModelStep(
        name="CreateModel", step_args=_model(train).create(instance_type="ml.m5.large")
    )
    transformer = Transformer(
        model_name=create.properties.ModelName,
        instance_type="ml.m5.xlarge",
        instance_count=1,
        output_path=f"s3://{BUCKET}/abalone/transform",
        sagemaker_session=session,
    )
    transform = TransformStep(
        name="BatchScore",
        step_args=transformer.transform(data=input_data, content_type="text/csv"),
    )
    return _pipeline(
        "model-and-transform",
        [prepare, train, create, transform],
        [input_data, instance_type, instance_count],
    )


def register_condition_fail() -> Pipeline:
    prepare = _processing()
    train = _training(prepare)
    evaluation = PropertyFile(name="Evaluation", output_name="evaluation", path="evaluation.json")
    processor = SKLearnProcessor(
        framework_version="1.2-1",
        role=ROLE,
        instance_type="ml.m5.xlarge",
        instance_count=1,
        sagemaker_session=session,
    )
    evaluate = ProcessingStep(
        name="EvaluateModel",
        step_args=processor.run(
            inputs=[
                ProcessingInput(
                    source=train.properties.ModelArtifacts.S3ModelArtifacts,
                    destination="/opt/ml/processing/model",
                )
            ],
            outputs=[ProcessingOutput(output_name="evaluation", source="/opt/ml/processing/eval")],
            code=f"s3://{BUCKET}/code/evaluate.py",
        ),
        property_files=[evaluation],
    )
    metrics = ModelMetrics(
        model_statistics=MetricsSource(
            s3_uri=Join(
                on="/",
                values=[
                    evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri,
                    "evaluation.json",
                ],
            ),
            content_type="application/json",
        )
    )
    register = ModelStep(
        name="RegisterModel",
        step_args=_model(train).register(
            content_types=["text/csv"],
            response_types=["text/csv"],
            inference_instances=["ml.m5.large"],
            transform_instances=["ml.m5.xlarge"],
            model_package_group_name="abalone-models",
            approval_status=approval,
            model_metrics=metrics,
            drift_check_baselines=DriftCheckBaselines(),
        ),
    )
    fail = FailStep(
        name="MseTooHigh",
        error_message=Join(
            on=" ", values=["MSE above", threshold, "in", ExecutionVariables.PIPELINE_EXECUTION_ID]
        ),
    )
    check = ConditionStep(
        name="CheckMse",
        conditions=[
            ConditionGreaterThanOrEqualTo(
                left=threshold,
                right=JsonGet(
                    step_name=evaluate.name,
                    property_file=evaluation,
                    json_path="regression_metrics.mse.value",
                ),
            )
        ],
        if_steps=[register],
        else_steps=[fail],
    )
    return _pipeline(
        "register-condition-fail",
        [prepare, train, evaluate, check],
        [input_data, instance_type, instance_count, threshold, approval],
    )


def lambda_step() -> Pipeline:
    prepare = _processing()
    step = LambdaStep(
        name="NotifyTeam",
        lambda_func=Lambda(function_arn=FUNCTION_ARN, session=session),
        inputs={
            "train_uri": prepare.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri,
            "execution": ExecutionVariables.PIPELINE_EXECUTION_ID,
        },
        outputs=[LambdaOutput(output_name="status", output_type=LambdaOutputTypeEnum.String)],
        cache_config=CACHE,
    )
    return _pipeline("lambda", [prepare, step], [input_data, instance_type, instance_count])


def callback() -> Pipeline:
    step = CallbackStep(
        name="ManualApproval",
        sqs_queue_url=QUEUE_URL,
        inputs={"data": input_data},
        outputs=[
            CallbackOutput(output_name="approved", output_type=CallbackOutputTypeEnum.Boolean)
        ],
    )
    return _pipeline("callback", [step], [input_data])


def emr() -> Pipeline:
    config = EMRStepConfig(
        jar="command-runner.jar",
        args=["spark-submit", f"s3://{BUCKET}/code/features.py", "--input", input_data],
    )
    on_cluster = EMRStep(
        name="FeaturesOnCluster",
        display_name="Features",
        description="Spark feature engineering on the shared cluster",
        cluster_id=CLUSTER_ID,
        step_config=config,
    )
    return _pipeline("emr", [on_cluster], [input_data])


def emr_new_cluster() -> Pipeline:
    config = EMRStepConfig(
        jar="command-runner.jar", args=["spark-submit", f"s3://{BUCKET}/code/features.py"]
    )
    step = EMRStep(
        name="FeaturesOnNewCluster",
        display_name="Features",
        description="Spark feature engineering on a cluster of its own",
        cluster_id=None,
        step_config=config,
        cluster_config={
            "ReleaseLabel": "emr-7.2.0",
            "Applications": [{"Name": "Spark"}],
            "Instances": {
                "InstanceGroups": [
                    {"InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1},
                    {"InstanceRole": "CORE", "InstanceType": "m5.xlarge", "InstanceCount": 2},
                ]
            },
            "ServiceRole": "EMR_DefaultRole",
            "JobFlowRole": "EMR_EC2_DefaultRole",
        },
    )
    return _pipeline("emr-new-cluster", [step], [])


def quality_check() -> Pipeline:
    check_job = CheckJobConfig(role=ROLE, instance_type="ml.m5.xlarge", sagemaker_session=session)
    step = QualityCheckStep(
        name="DataQuality",
        check_job_config=check_job,
        quality_check_config=DataQualityCheckConfig(
            baseline_dataset=input_data,
            dataset_format=DatasetFormat.csv(header=False),
            output_s3_uri=f"s3://{BUCKET}/abalone/data-quality",
        ),
        skip_check=False,
        register_new_baseline=False,
        model_package_group_name="abalone-models",
        cache_config=CACHE,
    )
    return _pipeline("quality-check", [step], [input_data])


def clarify_check() -> Pipeline:
    check_job = CheckJobConfig(role=ROLE, instance_type="ml.m5.xlarge", sagemaker_session=session)
    step = ClarifyCheckStep(
        name="DataBias",
        clarify_check_config=DataBiasCheckConfig(
            data_config=DataConfig(
                s3_data_input_path=f"s3://{BUCKET}/abalone/train.csv",
                s3_output_path=f"s3://{BUCKET}/abalone/bias",
                label=0,
                dataset_type="text/csv",
            ),
            data_bias_config=BiasConfig(label_values_or_threshold=[15.0], facet_name=[8]),
        ),
        check_job_config=check_job,
        skip_check=False,
        register_new_baseline=False,
        model_package_group_name="abalone-models",
    )
    return _pipeline("clarify-check", [step], [])


def automl() -> Pipeline:
    auto_ml = AutoML(
        role=ROLE,
        target_attribute_name="rings",
        sagemaker_session=session,
        max_candidates=5,
        mode="ENSEMBLING",
        output_path=f"s3://{BUCKET}/abalone/automl",
    )
    step_args = auto_ml.fit(
        inputs=AutoMLInput(
            inputs=input_data, target_attribute_name="rings", channel_type="training"
        )
    )
    return _pipeline("automl", [AutoMLStep(name="AutoPilot", step_args=step_args)], [input_data])


def endpoint() -> Pipeline:
    prepare = _processing()
    train = _training(prepare)
    create = ModelStep(
        name="CreateModel", step_args=_model(train).create(instance_type="ml.m5.large")
    )
    config = EndpointConfigStep(
        name="CreateEndpointConfig",
        step_args=session.create_endpoint_config(
            name="abalone-config",
            model_name=create.properties.ModelName,
            initial_instance_count=1,
            instance_type="ml.m5.large",
        ),
        retry_policies=RETRY[:1],
    )
    deploy = EndpointStep(
        name="DeployEndpoint",
        step_args=session.create_endpoint(
            endpoint_name="abalone", config_name=config.properties.EndpointConfigName
        ),
    )
    return _pipeline(
        "endpoint",
        [prepare, train, create, config, deploy],
        [input_data, instance_type, instance_count],
    )


def inference_component() -> Pipeline:
    prepare = _processing()
    train = _training(prepare)
    create = ModelStep(
        name="CreateModel", step_args=_model(train).create(instance_type="ml.m5.large")
    )
    component = InferenceComponentStep(
        name="DeployComponent",
        step_args=session.create_inference_component(
            inference_component_name="abalone-component",
            endpoint_name="shared-inference",
            variant_name="AllTraffic",
            specification={
                "ModelName": create.properties.ModelName,
                "ComputeResourceRequirements": {
                    "NumberOfCpuCoresRequired": 1,
                    "MinMemoryRequiredInMb": 1024,
                },
            },
            runtime_config={"CopyCount": 1},
        ),
    )
    return _pipeline(
        "inference-component",
        [prepare, train, create, component],
        [input_data, instance_type, instance_count],
    )


def lineage() -> Pipeline:
    step = LineageStep(
        name="RecordLineage",
        actions=[
            Action.create(
                action_name="abalone-training-run",
                source_uri=f"s3://{BUCKET}/abalone/run",
                source_type="S3ETag",
                action_type="ModelTraining",
                sagemaker_session=session,
            )
        ],
        artifacts=[
            Artifact.create(
                artifact_name="abalone-model",
                source_uri=f"s3://{BUCKET}/abalone/models/model.tar.gz",
                artifact_type="Model",
                sagemaker_session=session,
            )
        ],
        associations=[
            LineageAssociation(
                source=LineageEntityReference(name="abalone-training-run", type="Action"),
                destination=LineageEntityReference(name="abalone-model", type="Artifact"),
                association_type="Produced",
            )
        ],
    )
    return _pipeline("lineage", [step], [])


BUILDERS: dict[str, Callable[[], Pipeline]] = {
    "processing": processing,
    "training": training,
    "tuning": tuning,
    "model_and_transform": model_and_transform,
    "register_condition_fail": register_condition_fail,
    "lambda": lambda_step,
    "callback": callback,
    "emr": emr,
    "emr_new_cluster": emr_new_cluster,
    "quality_check": quality_check,
    "clarify_check": clarify_check,
    "automl": automl,
    "endpoint": endpoint,
    "inference_component": inference_component,
    "lineage": lineage,
}


def _types(steps: list[Any]) -> set[str]:
    found: set[str] = set()
    for step in steps:
        found.add(step["Type"])
        if step["Type"] == "Condition":
            for branch in ("IfSteps", "ElseSteps"):
                found |= _types(step["Arguments"].get(branch, []))
    return found


def main() -> int:
    fixtures: dict[str, list[str]] = {}
    failures: list[str] = []
    for name, build in BUILDERS.items():
        try:
            document = json.loads(build().definition())
        except Exception as error:  # report every builder that cannot run offline
            failures.append(f"{name}: {type(error).__name__}: {error}")
            continue
        (HERE / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        fixtures[name] = sorted(_types(document["Steps"]))
    manifest = {
        "sdk_version": sagemaker.__version__,
        "step_types": sorted(member.value for member in StepTypeEnum),
        "fixtures": fixtures,
    }
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    covered = set().union(*fixtures.values()) if fixtures else set()
    print(f"sagemaker {sagemaker.__version__}: {len(fixtures)} fixtures")
    print("step types without a fixture:", sorted(set(manifest["step_types"]) - covered))
    for failure in failures:
        print("FAILED", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
