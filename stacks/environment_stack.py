"""One stack per environment (dev, test, prod), built from typed configuration."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from sagemaker_constructs import (
    CanaryRollout,
    ContainerDefinition,
    ContainerImage,
    Endpoint,
    EndpointAlarms,
    Model,
    ModelData,
    ModelPackageGroup,
    Notebook,
    Pipeline,
    PipelineDefinition,
    ProductionVariant,
    ShadowEvaluation,
    VariantProperty,
)
from sagemaker_constructs.compliance import acknowledge_wildcard_resources
from sagemaker_constructs.roles import ScopedRole
from sagemaker_constructs.rollout.contract import SHADOW_STACK_OUTPUT, STACK_OUTPUT

from .buckets import LoggedBucket
from .config import (
    CANARY,
    CANDIDATE_PHASES,
    CONTEXT_KEY,
    SHADOW,
    AppConfig,
    EnvironmentConfig,
    ModelConfig,
    PackageModelConfig,
    default_group_name,
    from_construct_arguments,
)
from .foundation import Foundation
from .registry import promotion_record_conditions

__all__ = [
    "MODEL_PACKAGE_GROUP_ID",
    "NOTHING_TO_PROMOTE",
    "PROMOTION_CANDIDATE_OUTPUT",
    "PROMOTION_ROLLOUT_OUTPUT",
    "ROLLOUT_OPERATOR_OUTPUT",
    "EnvironmentStack",
    "RegistryHost",
    "endpoint_name",
    "pipeline_role_arns",
    "registry_host",
    "rollout_operator_role_name",
    "variant_name",
]

TRAINING_PIPELINE_FILE = (
    Path(__file__).resolve().parents[1] / "pipelines" / "training_pipeline.json"
)
#: SageMaker's own registry of the scikit-learn and XGBoost images in us-east-1.
SAGEMAKER_IMAGES_ACCOUNT = "683313688378"
#: Where the training pipeline's scripts live in the data bucket (read-only to its jobs).
TRAINING_CODE_PREFIX = "training/code/"
ROLLOUT_OPERATOR_OUTPUT = "RolloutOperatorRoleArn"
#: The construct id (and logical id) of the group the training pipeline registers into.
MODEL_PACKAGE_GROUP_ID = "ModelPackageGroup"
#: What the promotion pipeline's rollout step reads from an environment that rolls out: the
#: rollout's state machine, and the registry version it promotes (``NOTHING_TO_PROMOTE`` when
#: this deployment has no rollout, or a candidate from outside the registry).
PROMOTION_ROLLOUT_OUTPUT = "PromotionRolloutArn"
PROMOTION_CANDIDATE_OUTPUT = "PromotionCandidatePackage"
NOTHING_TO_PROMOTE = "none"


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegistryHost:
    """This environment holds the model registry: the group its training pipeline registers
    into is the one every environment deploys candidates from."""

    #: The group's name (the one the training pipeline already registers into by default).
    model_package_group_name: str
    #: The accounts that may read the group's versions (the other environments, the
    #: promotion pipeline's account for its synth step).
    read_accounts: tuple[str, ...]
    #: The promotion pipeline's account: approvals are forwarded to its default event bus,
    #: where a rule starts the pipeline. ``None``: no pipeline is configured.
    promotion_account: str | None = None


def registry_host(config: AppConfig, env: EnvironmentConfig) -> RegistryHost | None:
    """What ``env`` hosts of the registry: ``None`` unless it is the registry's environment."""
    registry_env = config.registry_environment
    name = config.registry_group_name
    if registry_env is None or name is None or registry_env.name != env.name:
        return None
    readers = [e.account for e in config.all_environments]
    if config.pipeline_account is not None:
        readers.append(config.pipeline_account)
    return RegistryHost(
        model_package_group_name=name,
        read_accounts=tuple(a for a in dict.fromkeys(readers) if a != env.account),
        promotion_account=(
            config.pipeline_account if config.pipeline_account != env.account else None
        ),
    )


def variant_name(model: ModelConfig | PackageModelConfig) -> str:
    """The production variant that serves ``model``: named after the model itself.

    SageMaker retains a variant's live weight across updates by the variant's NAME. Naming a
    variant after its model means a retained weight only ever applies to the same model: a new
    candidate is a new variant (weight 0 from the template), and a promoted candidate that
    becomes the baseline keeps its variant, and with it all its traffic.
    """
    served: dict[str, str]
    if isinstance(model, PackageModelConfig):
        # the version is the model: its artifacts' location only says where to read them
        served = {"model_package": model.model_package.lower()}
    else:
        served = {
            "image": model.image,
            "bucket": model.model_data_bucket,
            "key": model.model_data_key,
        }
    identity = json.dumps(
        {**served, "environment": dict(sorted(model.environment.items()))}, sort_keys=True
    )
    return f"model-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


def pipeline_role_arns(partition: str, account: str, project: str) -> str:
    """The roles of the promotion pipeline's stack (CloudFormation names them after it): what
    the environments let that account act as (``aws:PrincipalArn``)."""
    return f"arn:{partition}:iam::{account}:role/{project}-pipeline-*"


def endpoint_name(project: str, environment: str) -> str:
    """The environment's endpoint: named, so that its log group can be created before it."""
    return f"{project}-{environment}"


def rollout_operator_role_name(project: str, environment: str) -> str:
    """The role the promotion pipeline assumes to run an environment's rollout."""
    return f"{project}-{environment}-rollout-operator"


class EnvironmentStack(cdk.Stack):
    """Everything one environment runs, on its :class:`Foundation`.

    - the foundation: isolated VPC, endpoints, flow logs, KMS key;
    - a data bucket (KMS, versioned, access-logged) for training data and artifacts;
    - a :class:`Notebook` where ``notebook.enabled`` (dev and test by default);
    - the training :class:`Pipeline` from ``pipelines/training_pipeline.json``;
    - the configured model on an :class:`Endpoint` named ``<project>-<environment>`` (its log
      group encrypted with the environment's key, kept ``log_retention_days``) and, when a
      ``candidate`` is configured, a
      second model as a second variant at weight 0 and a :class:`CanaryRollout` from the
      model's variant to the candidate's (variants are named after their models, see
      :func:`variant_name`; stack output
      ``RolloutStateMachineArn``). With ``pipeline_account``, a role that account may assume
      to start and watch the rollout (output ``RolloutOperatorRoleArn``).
    - with ``shadow_first`` (or ``candidate_phase="shadow"``) and a candidate, a
      :class:`ShadowEvaluation` of the candidate as a shadow variant (output
      ``ShadowEvaluationStateMachineArn``), which the operator role may run too.

    ``candidate_phase``: ``"canary"`` (default) deploys the candidate as a production variant at
    weight 0 for the rollout; ``"shadow"`` as the endpoint's shadow variant, which gets a copy of
    the requests and answers no one. The rollout and the evaluation exist in both phases, bound
    to the endpoint by name in the phase where their variants are not both production ones, so
    that a deploy of the other phase updates them instead of replacing them.

    The stack is bound to the environment's account and region from configuration and
    performs no lookups at synth. It is tagged ``Project`` and ``Environment`` (plus any
    configured tags); stateful resources are retained when ``retain_data`` is set.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        project: str,
        config: EnvironmentConfig,
        pipeline_account: str | None = None,
        registry: RegistryHost | None = None,
        candidate_phase: str = CANARY,
        **kwargs: Any,
    ) -> None:
        if candidate_phase not in CANDIDATE_PHASES:
            raise ValueError(
                f"candidate_phase={candidate_phase!r}: expected one of {CANDIDATE_PHASES}"
            )
        self.config = config
        #: ``shadow``: the candidate is the endpoint's shadow variant; ``canary``: a
        #: production variant at weight 0 (see the class docstring)
        self.candidate_phase = candidate_phase
        self._key = f"{CONTEXT_KEY}.environments.{config.name}"
        super().__init__(
            scope,
            id,
            env=cdk.Environment(account=config.account, region=config.region),
            description=f"{project}: SageMaker {config.name} environment",
            termination_protection=config.retain_data,
            **kwargs,
        )
        tags = cdk.Tags.of(self)
        tags.add("Project", project)
        tags.add("Environment", config.name)
        for key, value in config.tags.items():
            tags.add(key, value)
        removal = cdk.RemovalPolicy.RETAIN if config.retain_data else cdk.RemovalPolicy.DESTROY

        self.foundation = Foundation(self, "Foundation", config=config)
        self.data = LoggedBucket(
            self,
            "Data",
            key=self.foundation.key,
            removal_policy=removal,
            replication_reason=(
                "Training data and pipeline outputs are reproducible from their sources; "
                "cross-region replication is a per-organisation choice left to the account."
            ),
        )

        self.notebook: Notebook | None = None
        if config.notebook.enabled:
            with self._configured_by(
                {
                    "instance_type": "notebook.instance_type",
                    "volume_size_in_gb": "notebook.volume_size_in_gb",
                }
            ):
                self.notebook = Notebook(
                    self,
                    "Notebook",
                    vpc=self.foundation.vpc,
                    vpc_subnets=self.foundation.subnets,
                    kms_key=self.foundation.key,
                    instance_type=config.notebook.instance_type,
                    volume_size_in_gb=config.notebook.volume_size_in_gb,
                )

        #: With a registry here and a promotion pipeline: the rule that forwards approvals.
        self.approval_forwarding: events.Rule | None = None
        self.training_pipeline = self._training_pipeline(project, self.data.bucket, registry)
        # What code inside the VPC may reach through the S3 gateway endpoint: the data bucket
        # and the buckets the models are loaded from.
        models = [m for m in (config.model, config.candidate) if m is not None]
        self.foundation.allow_buckets(self.data.bucket.bucket_name, *(m.bucket for m in models))

        candidate = config.candidate
        self.model = self._model("Model", config.model)
        self.candidate_model = (
            self._model("CandidateModel", config.candidate) if config.candidate else None
        )
        variants = [
            ProductionVariant(
                variant_name=variant_name(config.model),
                model=self.model,
                instance_type=config.endpoint.instance_type,
                initial_instance_count=config.endpoint.initial_instance_count,
                initial_variant_weight=1,
            )
        ]
        shadow_variants: list[ProductionVariant] = []
        if self.candidate_model is not None and candidate is not None:
            # As a shadow, the candidate gets a copy of the requests (weight 1, as the
            # production variant's); as a canary, a variant at weight 0 the rollout moves
            # traffic to. Its name is the same in both phases (named after its model).
            (shadow_variants if candidate_phase == SHADOW else variants).append(
                ProductionVariant(
                    variant_name=variant_name(candidate),
                    model=self.candidate_model,
                    instance_type=config.endpoint.instance_type,
                    initial_instance_count=config.endpoint.initial_instance_count,
                    initial_variant_weight=1 if candidate_phase == SHADOW else 0,
                )
            )
        #: the candidate is a production variant, which a rollout may be moving traffic to
        canary_variant_live = len(variants) > 1
        # With a candidate, a rollout may be moving traffic: an update keeps the live weights
        # (of the same models: variants are named after them). Without one, the single
        # variant takes all traffic from the template on every deploy.
        with self._configured_by(
            {
                **{
                    f"{kind}[{index}].{argument}": f"endpoint.{argument}"
                    for kind, listed in (
                        ("variants", variants),
                        ("shadow_variants", shadow_variants),
                    )
                    for index in range(len(listed))
                    for argument in ("instance_type", "initial_instance_count")
                },
                "log_retention_days": "log_retention_days",
            }
        ):
            # Named, so that its log group is created (encrypted, expiring) before SageMaker
            # would create one. Its alarms notify the environment's operations topic.
            self.endpoint = Endpoint(
                self,
                "Endpoint",
                endpoint_name=endpoint_name(project, config.name),
                variants=variants,
                shadow_variants=shadow_variants,
                alarms=EndpointAlarms(topic=self._operations_topic()),
                kms_key=self.foundation.key,
                log_encryption_key=self.foundation.key,
                log_retention_days=config.log_retention_days,
                removal_policy=removal,
                update_variant_properties_from_template=(
                    [] if canary_variant_live else [VariantProperty.DESIRED_WEIGHT]
                ),
            )
        if self.notebook is not None:
            self.notebook.grant_invoke_endpoint(self.endpoint)
            self.notebook.grant_start_pipeline(self.training_pipeline)

        self.rollout: CanaryRollout | None = None
        self.rollout_output: cdk.CfnOutput | None = None
        # While the candidate is a shadow, the rollout (and, in both phases, the shadow
        # evaluation) is bound to the endpoint by name: the variants it names are not both
        # production variants in every phase, and the resources stay the same from one phase
        # to the other instead of being replaced on each deploy.
        by_name = (
            Endpoint.from_endpoint_name(self, "EndpointByName", endpoint_name(project, config.name))
            if candidate is not None
            else None
        )
        if candidate is not None:
            self.rollout = CanaryRollout(
                self,
                "CanaryRollout",
                endpoint=by_name if candidate_phase == SHADOW and by_name else self.endpoint,
                baseline_variant=variant_name(config.model),
                canary_variant=variant_name(candidate),
                vpc=self.foundation.vpc,
                vpc_subnets=self.foundation.subnets,
                dynamodb_prefix_list_id=config.vpc.dynamodb_prefix_list_id,
                removal_policy=removal,
            )
            self.rollout_output = cdk.CfnOutput(
                self,
                STACK_OUTPUT,
                value=self.rollout.state_machine_arn,
                description="Start with: sagemaker-rollout start --stack <this stack> --watch",
            )
        #: With ``shadow_first`` (or in the shadow phase) and a candidate: the evaluation of the
        #: candidate as a shadow variant.
        self.shadow_evaluation: ShadowEvaluation | None = None
        judged_as_shadow = config.shadow_first or candidate_phase == SHADOW
        if by_name is not None and candidate is not None and judged_as_shadow:
            self.shadow_evaluation = ShadowEvaluation(
                self,
                "ShadowEvaluation",
                endpoint=by_name,
                production_variant=variant_name(config.model),
                shadow_variant=variant_name(candidate),
                vpc=self.foundation.vpc,
                vpc_subnets=self.foundation.subnets,
                removal_policy=removal,
            )
        self.shadow_output = self._shadow_output()
        if self.rollout is not None and pipeline_account is not None:
            self._rollout_operator(project, pipeline_account, self.rollout)
        #: What the promotion pipeline's rollout step reads (``None``: the environment does not
        #: roll out): the state machine to start and the version to record as promoted, or
        #: :data:`NOTHING_TO_PROMOTE`.
        self.promotion_outputs: tuple[cdk.CfnOutput, cdk.CfnOutput] | None = None
        if config.rolls_out or candidate is not None:
            self.promotion_outputs = self._promotion_outputs(candidate)

    def _shadow_output(self) -> cdk.CfnOutput | None:
        """``ShadowEvaluationStateMachineArn``: what the promotion pipeline's shadow step reads,
        in every deployment of an environment that judges its candidates as shadows first (the
        evaluation, or :data:`NOTHING_TO_PROMOTE` when this deployment has no candidate);
        ``None`` for the others."""
        if self.shadow_evaluation is None and not (
            self.config.shadow_first and self.config.rolls_out
        ):
            return None
        return cdk.CfnOutput(
            self,
            SHADOW_STACK_OUTPUT,
            value=(
                self.shadow_evaluation.state_machine_arn
                if self.shadow_evaluation is not None
                else NOTHING_TO_PROMOTE
            ),
            description="Start with: sagemaker-rollout shadow --stack <this stack> --watch",
        )

    def _promotion_outputs(
        self, candidate: ModelConfig | PackageModelConfig | None
    ) -> tuple[cdk.CfnOutput, cdk.CfnOutput]:
        """The outputs the pipeline's rollout step reads, in every deployment of an environment
        that rolls out: CodePipeline fails an action whose variables do not resolve, and the
        pipeline (deployed once by an administrator) has the step whether this synth found a
        candidate or not."""
        rollout = cdk.CfnOutput(
            self,
            PROMOTION_ROLLOUT_OUTPUT,
            value=self.rollout.state_machine_arn if self.rollout else NOTHING_TO_PROMOTE,
            description="The promotion pipeline's rollout step starts this state machine "
            f"('{NOTHING_TO_PROMOTE}': no candidate in this deployment)",
        )
        version = (
            candidate.model_package
            if isinstance(candidate, PackageModelConfig)
            else NOTHING_TO_PROMOTE
        )
        package = cdk.CfnOutput(
            self,
            PROMOTION_CANDIDATE_OUTPUT,
            value=version,
            description="The registry version the rollout step records as promoted here "
            f"('{NOTHING_TO_PROMOTE}': none)",
        )
        return rollout, package

    @property
    def availability_zones(self) -> list[str]:
        """The configured zones, or the region's first two: never a context lookup at synth.

        Without configured zones the template selects them at deploy time
        (``Fn::Select`` over ``Fn::GetAZs``), so nothing zone-specific is hard-coded.
        """
        if self.config.vpc.availability_zones:
            return list(self.config.vpc.availability_zones)
        return [cdk.Fn.select(index, cdk.Fn.get_azs()) for index in range(2)]

    def _rollout_operator(self, project: str, account: str, rollout: CanaryRollout) -> None:
        """A role the pipeline account assumes to run ``sagemaker-rollout`` here."""
        # Only the promotion pipeline's own roles (named after its stack) may assume it.
        operator = ScopedRole(
            self,
            "RolloutOperator",
            assumed_by=iam.AccountPrincipal(account).with_conditions(
                {
                    "ArnLike": {
                        "aws:PrincipalArn": pipeline_role_arns(self.partition, account, project)
                    }
                }
            ),
            description=f"The promotion pipeline ({account}) starts and watches the rollout",
            role_name=rollout_operator_role_name(project, self.config.name),
        )
        rollout.grant_operate(operator.grantee)
        if self.shadow_evaluation is not None:
            self.shadow_evaluation.grant_run(operator.grantee)
        acknowledge_wildcard_resources(
            operator.policy,
            "Step Functions names each execution at start time; access is limited to the "
            "executions of this one rollout state machine.",
        )
        cdk.CfnOutput(self, ROLLOUT_OPERATOR_OUTPUT, value=operator.role.role_arn)

    def _operations_topic(self) -> sns.Topic:
        """``OperationsTopic``: where the endpoint's alarms notify when they fire and clear
        (subscribe the team's address or chat integration to it), encrypted with the
        environment's key, TLS only; CloudWatch may use the key to publish."""
        topic = sns.Topic(
            self,
            "OperationsTopic",
            display_name=f"{self.config.name} operations",
            master_key=self.foundation.key,
            enforce_ssl=True,
        )
        self.foundation.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        cdk.CfnOutput(
            self,
            "OperationsTopicArn",
            value=topic.topic_arn,
            description="Subscribe to the endpoint's alarms here",
        )
        return topic

    def _configured_by(self, keys: dict[str, str]) -> AbstractContextManager[None]:
        """Report a construct's invalid arguments at the keys of this environment they come
        from (``keys``: construct argument -> key below the environment)."""
        return from_construct_arguments(
            {argument: f"{self._key}.{key}" for argument, key in keys.items()}, self._key
        )

    def _model(self, id: str, model: ModelConfig | PackageModelConfig) -> Model:
        key = "model" if model is self.config.model else "candidate"
        bucket = s3.Bucket.from_bucket_name(self, f"{id}Bucket", model.bucket)
        container: ContainerDefinition
        if isinstance(model, PackageModelConfig):
            container = ContainerDefinition.from_model_package(
                model.model_package,
                artifacts_bucket=bucket,
                artifacts_key=model.artifacts_key,
                artifacts_encryption_key=(
                    kms.Key.from_key_arn(self, f"{id}ArtifactsKey", model.artifacts_kms_key_arn)
                    if model.artifacts_kms_key_arn
                    else None
                ),
                environment=dict(model.environment),
            )
        else:
            container = ContainerDefinition(
                image=ContainerImage.from_registry(model.image),
                model_data=ModelData.from_bucket(bucket, model.model_data_key),
                environment=dict(model.environment),
            )
        with self._configured_by(
            {
                "containers[0].image": f"{key}.image",
                "containers[0].model_data.key": f"{key}.model_data_key",
                "containers[0].model_package.model_package_arn": f"{key}.model_package",
                "containers[0].model_package.artifacts": f"{key}.artifacts_key",
                "containers[0].environment": f"{key}.environment",
                "network_isolation": "network_isolation",
                "s3_prefix_list_id": "vpc.s3_prefix_list_id",
            }
        ):
            return Model(
                self,
                id,
                containers=[container],
                vpc=self.foundation.vpc,
                vpc_subnets=self.foundation.subnets,
                network_isolation=self.config.network_isolation,
                # model data and image layers come through the S3 gateway endpoint
                s3_prefix_list_id=self.config.vpc.s3_prefix_list_id,
            )

    def _training_pipeline(
        self, project: str, data_bucket: s3.IBucket, registry: RegistryHost | None
    ) -> Pipeline:
        """The seed's Processing -> Training -> Evaluation -> RegisterModel pipeline."""
        job_role = ScopedRole(
            self,
            "TrainingJobRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker processing and training jobs of the training pipeline",
        )
        key = self.foundation.key
        job_role.add_statements(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[data_bucket.arn_for_objects("*")],
            ),
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[data_bucket.bucket_arn],
            ),
            # The jobs never change their own code: the scripts the pipeline runs are below
            # training/code/, which they may read but not write.
            iam.PolicyStatement(
                sid="CodeIsReadOnly",
                effect=iam.Effect.DENY,
                actions=["s3:PutObject", "s3:DeleteObject"],
                resources=[data_bucket.arn_for_objects(f"{TRAINING_CODE_PREFIX}*")],
            ),
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[key.key_arn],
            ),
            # SageMaker attaches the key to the jobs' volumes with a grant it creates itself.
            iam.PolicyStatement(
                sid="GrantsForSageMakerVolumes",
                actions=["kms:CreateGrant"],
                resources=[key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    self.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws/sagemaker/*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            ),
        )
        acknowledge_wildcard_resources(
            job_role.policy,
            "Jobs write objects whose keys hold the execution id, and SageMaker creates one "
            "log group stream per job under /aws/sagemaker/; both are limited to this "
            "environment's data bucket and this account's SageMaker log groups.",
        )
        self.model_group = self._model_group(project, registry)
        images = f"{SAGEMAKER_IMAGES_ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com"
        pipeline = Pipeline(
            self,
            "TrainingPipeline",
            definition=PipelineDefinition.from_file(str(TRAINING_PIPELINE_FILE)),
            pipeline_name=f"{project}-{self.config.name}-training",
            description=(f"Processing, training, evaluation and registration ({self.config.name})"),
            substitutions={
                "RoleArn": job_role.role.role_arn,
                "DataBucket": data_bucket.bucket_name,
                "ProcessingImageUri": f"{images}/sagemaker-scikit-learn:1.2-1-cpu-py3",
                "TrainingImageUri": f"{images}/sagemaker-xgboost:1.7-1",
                "ModelPackageGroupName": self.model_group.model_package_group_arn,
                "KmsKeyArn": key.key_arn,
            },
            job_role=job_role.role,
            buckets=[data_bucket],
        )
        self.model_group.grant_register(pipeline)
        return pipeline

    def _model_group(self, project: str, registry: RegistryHost | None) -> ModelPackageGroup:
        """The group the training pipeline registers into; in the registry's environment,
        readable by ``registry.read_accounts`` and, with a promotion pipeline, forwarding
        every approval to the pipeline account's default event bus."""
        group = ModelPackageGroup(
            self,
            MODEL_PACKAGE_GROUP_ID,
            model_package_group_name=(
                registry.model_package_group_name
                if registry is not None
                else default_group_name(project, self.config.name)
            ),
            description="Models registered by the training pipeline",
            read_accounts=list(registry.read_accounts) if registry is not None else None,
        )
        # The group holds every registered version: it keeps its logical id (a new one would
        # replace it, and a named group with versions cannot be replaced).
        group.resource.override_logical_id(MODEL_PACKAGE_GROUP_ID)
        if registry is not None and registry.promotion_account is not None:
            self._forward_approvals(group, registry.promotion_account)
            self._pipeline_records_promotions(group, project, registry.promotion_account)
        return group

    def _pipeline_records_promotions(
        self, group: ModelPackageGroup, project: str, account: str
    ) -> None:
        """The promotion pipeline's roles may mark this group's versions promoted
        (``UpdateModelPackage`` that sets no approval status and removes no property, nothing
        else), through a statement of the group's resource policy beside the library's
        cross-account read.

        ``ModelPackageGroup`` grants the accounts in ``read_accounts`` read only, so the
        statement is added with CloudFormation's escape hatch on the group's policy. The pipeline
        account's own policy narrows it further to its rollout steps' roles.
        """
        statement = iam.PolicyStatement(
            sid="PipelineRecordsPromotions",
            principals=[iam.AccountPrincipal(account)],
            actions=["sagemaker:UpdateModelPackage"],
            resources=[group.package_arn_pattern],
            conditions={
                "ArnLike": {
                    "aws:PrincipalArn": pipeline_role_arns(self.partition, account, project)
                },
                **promotion_record_conditions(),
            },
        )
        document = self.resolve(group.resource.model_package_group_policy)
        group.resource.add_property_override(
            "ModelPackageGroupPolicy.Statement",
            [*document["Statement"], self.resolve(statement.to_statement_json())],
        )

    def _forward_approvals(self, group: ModelPackageGroup, account: str) -> None:
        """SageMaker sends approval events to this account's default bus only: forward them to
        the promotion pipeline's account, whose rule starts the pipeline."""
        bus = events.EventBus.from_event_bus_arn(
            self,
            "PromotionEventBus",
            cdk.Arn.format(
                cdk.ArnComponents(
                    service="events",
                    account=account,
                    resource="event-bus",
                    resource_name="default",
                ),
                self,
            ),
        )
        sender = ScopedRole(
            self,
            "ApprovalForwarder",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description=f"EventBridge forwards model approvals to the pipeline account {account}",
        )
        sender.add_statements(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus.event_bus_arn])
        )
        self.approval_forwarding = group.on_package_approved(
            "ForwardApprovals",
            target=targets.EventBus(bus, role=sender.immutable_role),
            description=f"Approved versions of {group.model_package_group_name} start the "
            f"promotion pipeline in {account}",
        )
