"""Multi-account promotion with CDK Pipelines: dev -> test -> (manual approval) -> prod.

The pipeline runs pinned code only: the npm tools at package.json's exact versions, Python
packages from hash-checked lock files (requirements/), and no step before the production
approval can change the pipeline itself (self-mutation is off; an administrator deploys
pipeline changes with ``cdk deploy``).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import cdk_nag
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import pipelines
from constructs import Construct

from sagemaker_constructs import ModelPackageGroup
from sagemaker_constructs.compliance import acknowledge, acknowledge_wildcard_resource
from sagemaker_constructs.log_groups import allow_cloudwatch_logs, retention
from sagemaker_constructs.roles import ScopedRole

from .buckets import LoggedBucket
from .config import (
    CANARY,
    LATEST_APPROVED,
    RESOLVE_CANDIDATE,
    SHADOW,
    AppConfig,
    EnvironmentConfig,
)
from .environment_stack import (
    NOTHING_TO_PROMOTE,
    EnvironmentStack,
    RegistryHost,
    registry_host,
    rollout_operator_role_name,
)
from .registry import promotion_record_conditions
from .toolchain import npm_toolchain

__all__ = [
    "BUILD_LOG_RETENTION_DAYS",
    "PYTHON_VERSION",
    "ROLLOUT_LOCK",
    "SYNTH_COMMANDS",
    "SYNTH_RESOLVING_COMMANDS",
    "EnvironmentStage",
    "PipelineStack",
    "rollout_commands",
    "shadow_commands",
]

#: The Python every CodeBuild step runs (runtime-versions): the one requirements/*.lock are
#: resolved for.
PYTHON_VERSION = "3.11"
#: How long the CodeBuild projects' logs are kept (one year).
BUILD_LOG_RETENTION_DAYS = 365
#: What the CanaryRollout step installs, hash-checked, before the project itself (--no-deps).
ROLLOUT_LOCK = "requirements/rollout.lock"
#: The synth step without a registry: the laptop's ``make synth``.
SYNTH_COMMANDS = ("make synth",)
#: The synth step with a registry: ``make synth``'s set-up, then the same ``cdk synth`` asking
#: the registry for the newest approved version (the only synth that calls AWS).
SYNTH_RESOLVING_COMMANDS = (
    "make setup",
    'export PATH="$PWD/node_modules/.bin:$PWD/.venv/bin:$PATH" CDK_DISABLE_CLI_TELEMETRY=true '
    "CDK_DISABLE_VERSION_CHECK=true",
    f"cdk synth --quiet -c {RESOLVE_CANDIDATE}={LATEST_APPROVED}",
)
#: Where the CanaryRollout step installs sagemaker-rollout: a venv of its own.
_ROLLOUT_VENV = "/tmp/rollout-venv"  # noqa: S108 (CodeBuild's own, single-use build container)
#: Exactly the rollout lock (hash-checked), then the project without resolving anything: the
#: rollout and shadow steps run the boto3 the tests ran, and nothing unpinned.
_ROLLOUT_INSTALL = [
    f"python3 -m venv {_ROLLOUT_VENV}",
    f"{_ROLLOUT_VENV}/bin/python -m pip install --quiet --require-hashes -r {ROLLOUT_LOCK}",
    f"{_ROLLOUT_VENV}/bin/python -m pip install --quiet --no-deps --no-build-isolation .",
]


def shadow_commands(environment: str) -> tuple[str, ...]:
    """What an environment's shadow step runs: the shadow evaluation, watched to its verdict,
    skipped when the deployment has no candidate (:data:`NOTHING_TO_PROMOTE`)."""
    return (
        f'if [ "$SHADOW_STATE_MACHINE_ARN" = "{NOTHING_TO_PROMOTE}" ]; then '
        f'echo "{environment}: no candidate in this deployment, nothing to judge"; else '
        f'{_ROLLOUT_VENV}/bin/sagemaker-rollout --region "$ROLLOUT_REGION" '
        '--role-arn "$ROLLOUT_ROLE_ARN" '
        'shadow --state-machine "$SHADOW_STATE_MACHINE_ARN" --watch --interval 30; fi',
    )


def rollout_commands(environment: str, *, record: bool) -> tuple[str, ...]:
    """What an environment's rollout step runs: the rollout, watched to its end, then (with a
    registry, ``record``) the promotion recorded on the version, each skipped when the
    deployment has nothing to roll out or record (:data:`NOTHING_TO_PROMOTE`)."""
    rollout = (
        f'if [ "$ROLLOUT_STATE_MACHINE_ARN" = "{NOTHING_TO_PROMOTE}" ]; then '
        f'echo "{environment}: no candidate in this deployment, nothing to roll out"; else '
        f'{_ROLLOUT_VENV}/bin/sagemaker-rollout --region "$ROLLOUT_REGION" '
        '--role-arn "$ROLLOUT_ROLE_ARN" '
        'start --state-machine "$ROLLOUT_STATE_MACHINE_ARN" --watch --interval 30; fi'
    )
    if not record:
        return (rollout,)
    recording = (
        f'if [ "$CANDIDATE_PACKAGE_ARN" = "{NOTHING_TO_PROMOTE}" ]; then '
        f'echo "{environment}: no registry version promoted, nothing to record"; else '
        f"{_ROLLOUT_VENV}/bin/python -m stacks.registry record-promotion "
        f'--environment {environment} --package-arn "$CANDIDATE_PACKAGE_ARN"; fi'
    )
    return (rollout, recording)


#: Why the findings on resources that CDK Pipelines generates are acknowledged there and
#: only there. Each reason names what CDK Pipelines does and why it cannot be configured.
_GENERATED_POLICY_REASON = (
    "Generated by CDK Pipelines: the statements of its pipeline, action and CodeBuild roles "
    "are computed from the pipeline's structure (artifact bucket objects, its KMS key, the "
    "CodeBuild log groups and report groups, the bootstrap roles of the target accounts) and "
    "CDK Pipelines offers no way to place them in a managed policy or narrow them further."
)
_GENERATED_PROJECT_REASON = (
    "Generated by CDK Pipelines: the CodeBuild project's source is the pipeline's artifact "
    "(type CODEPIPELINE); it has no repository URL and holds no credentials."
)


class EnvironmentStage(cdk.Stage):
    """One environment, as a deployable unit of the pipeline."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        project: str,
        config: EnvironmentConfig,
        pipeline_account: str,
        registry: RegistryHost | None = None,
        candidate_phase: str = CANARY,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, id, env=cdk.Environment(account=config.account, region=config.region), **kwargs
        )
        # The shadow stage deploys the same stack (by name) as the environment's own stage.
        self.stack = EnvironmentStack(
            self,
            "Environment",
            project=project,
            config=config,
            pipeline_account=pipeline_account,
            registry=registry,
            stack_name=f"{project}-{config.name}",
            candidate_phase=candidate_phase,
        )


class PipelineStack(cdk.Stack):
    """A CDK Pipelines (``pipelines.CodePipeline``) pipeline in the tooling account.

    - Source: the configured CodeConnections connection, repository and branch.
    - Synth: the project's own ``make synth`` (the same two-command set-up as on a laptop:
      Python packages from requirements/dev.lock, the CDK CLI from package-lock.json).
    - Self-mutation off: a commit cannot change the pipeline (nor remove the approval) before
      a person approved; pipeline changes are deployed with ``cdk deploy`` by an administrator.
    - Asset publishing and the CDK CLI at the exact versions of package.json; every CodeBuild
      step on Python 3.11; the asset role starts no builds.
    - One stage per environment in promotion order (dev -> test -> prod), each deployed to
      its own account and region; a manual approval before prod.
    - Cross-account KMS keys with rotation; the artifact bucket is versioned, KMS-encrypted,
      TLS-only and logs access.
    - Every CodeBuild project logs to one log group (``BuildLogs``), encrypted with a key of
      its own and kept :data:`BUILD_LOG_RETENTION_DAYS` days.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: AppConfig,
        **kwargs: Any,
    ) -> None:
        pipeline_config = config.pipeline
        if pipeline_config is None:
            raise ValueError("config.pipeline: missing; PipelineStack needs a pipeline config")
        super().__init__(
            scope,
            id,
            env=cdk.Environment(account=pipeline_config.account, region=pipeline_config.region),
            description=f"{config.project}: promotion pipeline dev -> test -> prod",
            **kwargs,
        )
        cdk.Tags.of(self).add("Project", config.project)
        cdk.Tags.of(self).add("Environment", "pipeline")

        toolchain = npm_toolchain()
        artifact_bucket = self._artifact_bucket()
        self.source = pipelines.CodePipelineSource.connection(
            pipeline_config.repository,
            pipeline_config.branch,
            connection_arn=pipeline_config.connection_arn,
            trigger_on_push=True,
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name=f"{config.project}-promotion",
            pipeline_type=codepipeline.PipelineType.V2,
            synth=pipelines.ShellStep(
                "Synth",
                input=self.source,
                commands=list(
                    SYNTH_RESOLVING_COMMANDS if config.registry is not None else SYNTH_COMMANDS
                ),
                primary_output_directory="cdk.out",
            ),
            artifact_bucket=artifact_bucket,
            cross_account_keys=True,
            enable_key_rotation=True,
            # Off: with self-mutation, any commit would redeploy the pipeline (and could drop
            # the production approval) before anyone approved it. See the README.
            self_mutation=False,
            cli_version=toolchain.cdk_cli,
            cdk_assets_cli_version=toolchain.cdk_assets,
            # One asset project whose buildspec travels in the cloud assembly: assets a commit
            # adds or changes are published without redeploying the pipeline.
            publish_assets_in_parallel=False,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(
                    build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                    compute_type=codebuild.ComputeType.MEDIUM,
                ),
                partial_build_spec=codebuild.BuildSpec.from_object(
                    {"phases": {"install": {"runtime-versions": {"python": PYTHON_VERSION}}}}
                ),
                # Every project (synth, assets, rollout steps) logs here, not to the
                # /aws/codebuild/<project> group CodeBuild would create unencrypted, forever.
                logging=codebuild.LoggingOptions(
                    cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self._build_logs())
                ),
            ),
        )
        self.stages: list[EnvironmentStage] = []
        #: The rollout step after each environment that rolls out, in promotion order.
        self.rollout_steps: list[pipelines.CodeBuildStep] = []
        #: the environment of each rollout step, in the same order
        self.rollout_environments: list[str] = []
        #: The shadow stages and their evaluation steps (environments with ``shadow_first``).
        self.shadow_stages: list[EnvironmentStage] = []
        self.shadow_steps: list[pipelines.CodeBuildStep] = []
        for env in config.all_environments:
            pre: list[pipelines.Step] = []
            if env.name == "prod":
                pre.append(
                    pipelines.ManualApprovalStep(
                        "ApproveProduction",
                        comment=f"Promote {config.project} to production ({env.account})?",
                    )
                )
            if env.shadow_first:
                # shadow first: the same stack with the candidate as a shadow variant, judged
                # by its shadow evaluation; the environment's own stage follows only on a PASS
                pre = self._shadow_stage(config, env, pipeline_config.account, pre)
            stage = EnvironmentStage(
                self,
                env.name.capitalize(),
                project=config.project,
                config=env,
                pipeline_account=pipeline_config.account,
                registry=registry_host(config, env),
            )
            post: list[pipelines.Step] = []
            if stage.stack.promotion_outputs is not None:
                step = self._rollout_step(
                    config.project,
                    env,
                    stage.stack.promotion_outputs,
                    record=config.registry is not None,
                )
                post.append(step)
                self.rollout_steps.append(step)
                self.rollout_environments.append(env.name)
            self.pipeline.add_stage(stage, pre=pre, post=post)
            self.stages.append(stage)

        # Generate the pipeline now so its generated resources can be acknowledged precisely.
        self.pipeline.build_pipeline()
        self._asset_roles_start_no_builds(self.pipeline)
        self._acknowledge_generated(self.pipeline)
        self.promotion_rule: events.Rule | None = None
        if config.registry is not None:
            self._read_registry_at_synth(config)
            self._record_promotions(config)
            self.promotion_rule = self._start_on_approval(config)

    def _read_registry_at_synth(self, config: AppConfig) -> None:
        """The synth step lists the registry's versions (in the registry's account, whose
        group policy lets this account read): DescribeModelPackageGroup, ListModelPackages and
        DescribeModelPackage on that one group, in the synth project's generated policy."""
        arn = config.registry_group_arn
        assert arn is not None
        group = ModelPackageGroup.from_model_package_group_arn(self, "Registry", arn)
        project = self.pipeline.synth_project
        group.grant_read(project)
        policy = project.role.node.try_find_child("DefaultPolicy") if project.role else None
        assert isinstance(policy, iam.Policy)
        acknowledge_wildcard_resource(
            policy,
            group.package_arn_pattern,
            "The synth step resolves the newest approved version of the registry's group: it "
            "lists and describes the versions of that one group (model-package/<group>/*), "
            "numbered by SageMaker as they are registered.",
        )

    def _record_promotions(self, config: AppConfig) -> None:
        """Each rollout step marks the version it promoted in the registry:
        ``UpdateModelPackage`` on the versions of the registry's group, only setting its own
        environment's ``promoted-<environment>`` property and never an approval status or a
        removal (the group's resource policy admits this account's pipeline roles for that
        action)."""
        arn = config.registry_group_arn
        assert arn is not None
        group = ModelPackageGroup.from_model_package_group_arn(self, "PromotionRecords", arn)
        for step, environment in zip(self.rollout_steps, self.rollout_environments, strict=True):
            role = step.project.role
            assert role is not None
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["sagemaker:UpdateModelPackage"],
                    resources=[group.package_arn_pattern],
                    conditions=promotion_record_conditions(environment),
                )
            )
            policy = role.node.try_find_child("DefaultPolicy")
            assert isinstance(policy, iam.Policy)
            acknowledge_wildcard_resource(
                policy,
                group.package_arn_pattern,
                "The rollout step records the version it promoted (a customer metadata "
                "property set with UpdateModelPackage); versions are numbered by SageMaker as "
                "they are registered, and the action is limited to those of the registry's "
                "one group (model-package/<group>/*).",
            )

    def _start_on_approval(self, config: AppConfig) -> events.Rule:
        """An approval in the registry starts this pipeline.

        SageMaker sends ``SageMaker Model Package State Change`` to the registry account's
        default bus; the registry's environment forwards approvals of its group here (this
        account's default bus admits that account's events), and this rule starts the
        pipeline through a role that may start this pipeline only.
        """
        registry_env = config.registry_environment
        name = config.registry_group_name
        assert registry_env is not None
        assert name is not None
        if registry_env.account != self.account:
            events.CfnEventBusPolicy(
                self,
                "RegistryMayForwardApprovals",
                event_bus_name="default",
                statement_id=f"{config.project}-registry-approvals",
                statement={
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{self.partition}:iam::{registry_env.account}:root"},
                    "Action": "events:PutEvents",
                    "Resource": cdk.Arn.format(
                        cdk.ArnComponents(
                            service="events", resource="event-bus", resource_name="default"
                        ),
                        self,
                    ),
                },
            )
        pipeline = self.pipeline.pipeline
        starter = ScopedRole(
            self,
            "PromotionStarter",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="EventBridge starts the promotion pipeline when a model is approved",
        )
        starter.add_statements(
            iam.PolicyStatement(
                actions=["codepipeline:StartPipelineExecution"],
                resources=[pipeline.pipeline_arn],
            )
        )
        # The group's name, matched exactly; the events come from the registry's account only.
        group = ModelPackageGroup.from_model_package_group_name(self, "RegistryEvents", name)
        rule = group.on_package_approved(
            "StartPromotion",
            target=targets.CodePipeline(pipeline, event_role=starter.immutable_role),
            description=f"An approved version of {name} ({registry_env.account}) starts the "
            "promotion pipeline",
        )
        rule.add_event_pattern(account=[registry_env.account], region=[registry_env.region])
        return rule

    def _shadow_stage(
        self,
        config: AppConfig,
        env: EnvironmentConfig,
        pipeline_account: str,
        pre: list[pipelines.Step],
    ) -> list[pipelines.Step]:
        """The stage ``<Env>Shadow`` (after ``pre``) and its shadow evaluation step; returns
        what the environment's own stage then needs before it (nothing more)."""
        stage = EnvironmentStage(
            self,
            f"{env.name.capitalize()}Shadow",
            project=config.project,
            config=env,
            pipeline_account=pipeline_account,
            registry=registry_host(config, env),
            candidate_phase=SHADOW,
        )
        post: list[pipelines.Step] = []
        if stage.stack.shadow_output is not None:
            step = self._shadow_step(config.project, env, stage.stack.shadow_output)
            post.append(step)
            self.shadow_steps.append(step)
        self.pipeline.add_stage(stage, pre=pre, post=post)
        self.shadow_stages.append(stage)
        return []

    def _operator_role_arn(self, project: str, env: EnvironmentConfig) -> str:
        """The role of ``env`` that the pipeline's steps assume to run ``sagemaker-rollout``."""
        return cdk.Arn.format(
            cdk.ArnComponents(
                service="iam",
                region="",
                account=env.account,
                resource="role",
                resource_name=rollout_operator_role_name(project, env.name),
            ),
            self,
        )

    def _shadow_step(
        self, project: str, env: EnvironmentConfig, output: cdk.CfnOutput
    ) -> pipelines.CodeBuildStep:
        """Run the environment's shadow evaluation of the candidate and wait: green only on a
        PASS (``sagemaker-rollout shadow --watch`` exits 0 only then; FAIL or INCONCLUSIVE
        exits 2 and stops the promotion before the candidate gets any user traffic). A
        deployment without a candidate passes."""
        operator_role_arn = self._operator_role_arn(project, env)
        return pipelines.CodeBuildStep(
            "ShadowEvaluation",
            input=self.source,
            env_from_cfn_outputs={"SHADOW_STATE_MACHINE_ARN": output},
            env={"ROLLOUT_ROLE_ARN": operator_role_arn, "ROLLOUT_REGION": env.region},
            install_commands=_ROLLOUT_INSTALL,
            commands=list(shadow_commands(env.name)),
            role_policy_statements=[
                iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[operator_role_arn])
            ],
            timeout=cdk.Duration.hours(8),
        )

    def _rollout_step(
        self,
        project: str,
        env: EnvironmentConfig,
        outputs: tuple[cdk.CfnOutput, cdk.CfnOutput],
        *,
        record: bool,
    ) -> pipelines.CodeBuildStep:
        """Start the environment's canary rollout and wait: green only when it promoted; then,
        with a registry, record the promotion there.

        ``sagemaker-rollout start --watch`` exits 0 only when the canary reached 100 %; a
        rollback (2), an abort (3) or any failure fails this action and stops the promotion,
        and nothing is recorded (CodeBuild runs no command after a failed one). A deployment
        without a candidate (nothing newer to roll out) passes without either.
        """
        operator_role_arn = self._operator_role_arn(project, env)
        rollout_output, candidate_output = outputs
        return pipelines.CodeBuildStep(
            "CanaryRollout",
            input=self.source,
            env_from_cfn_outputs={
                "ROLLOUT_STATE_MACHINE_ARN": rollout_output,
                "CANDIDATE_PACKAGE_ARN": candidate_output,
            },
            env={"ROLLOUT_ROLE_ARN": operator_role_arn, "ROLLOUT_REGION": env.region},
            install_commands=_ROLLOUT_INSTALL,
            commands=list(rollout_commands(env.name, record=record)),
            role_policy_statements=[
                iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[operator_role_arn])
            ],
            timeout=cdk.Duration.hours(8),
        )

    def _build_logs(self) -> logs.LogGroup:
        """The log group of every CodeBuild project: a key of its own (the artifact key is
        shared with the target accounts; this one serves CloudWatch Logs of this account and
        region only) and :data:`BUILD_LOG_RETENTION_DAYS`."""
        key = kms.Key(
            self,
            "BuildLogsKey",
            description="Encrypts the promotion pipeline's CodeBuild logs",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        allow_cloudwatch_logs(key)
        return logs.LogGroup(
            self,
            "BuildLogs",
            encryption_key=key,
            retention=retention(BUILD_LOG_RETENTION_DAYS),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def _artifact_bucket(self) -> s3.IBucket:
        key = kms.Key(
            self,
            "ArtifactKey",
            description="Encrypts the promotion pipeline's artifacts (shared with the targets)",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        artifacts = LoggedBucket(
            self,
            "Artifacts",
            key=key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            replication_reason=(
                "Pipeline artifacts are rebuilt from source control by every run; replicating "
                "them to another region adds no recovery value."
            ),
        )
        return artifacts.bucket

    @staticmethod
    def _asset_roles_start_no_builds(pipeline: pipelines.CodePipeline) -> None:
        """Remove ``codebuild:StartBuild``/``StopBuild``/``BatchGetBuilds`` on ``*`` from the
        asset publishing roles.

        CDK Pipelines gives every asset role (``Assets/FileRole``, ``Assets/DockerRole``) that
        statement when it creates the role, and offers no property to leave it out. The role
        is only the asset CodeBuild project's service role (trusted by codebuild.amazonaws.com
        alone): the pipeline starts that project with its own CodeBuild action role, whose
        ``StartBuild`` is already scoped to each project. Code running in the asset build
        (the npm package cdk-assets) would only use it to start other builds; it could start
        any project in the account with a buildspec override. Narrowing it to the pipeline's
        own projects would still let it run commands with their roles, so the statement is
        dropped from the generated policy document (an escape hatch, tested on the template).
        Call it after ``build_pipeline()``: CDK Pipelines adds nothing to these roles later.
        """
        assets = pipeline.node.try_find_child("Assets")
        if assets is None:
            return
        for policy in assets.node.find_all():
            if not isinstance(policy, iam.CfnPolicy):
                continue
            document = cdk.Stack.of(policy).resolve(policy.policy_document)
            statements = document.get("Statement", [])
            kept = [s for s in statements if not _codebuild_builds_on_anything(s)]
            if len(kept) != len(statements):
                policy.policy_document = {**document, "Statement": kept}

    @staticmethod
    def _acknowledge_generated(pipeline: pipelines.CodePipeline) -> None:
        """Acknowledge findings on what CDK Pipelines generates, and nothing else.

        Only two kinds of generated resources are covered: the inline policies of the roles
        CDK Pipelines creates (inline policy, and each wildcard it needs, found by running the
        AwsSolutions pack on the pipeline alone) and its CodeBuild projects' source check.
        """
        policies = [n for n in pipeline.node.find_all() if isinstance(n, iam.CfnPolicy)]
        for policy in policies:
            for pack in ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321"):
                acknowledge(policy, f"{pack}::{pack}-IAMNoInlinePolicy", _GENERATED_POLICY_REASON)
        policy_paths = {policy.node.path: policy for policy in policies}
        report = cdk_nag.AwsSolutionsChecks().validate_scope(pipeline)
        for violation in report.violations:
            if not violation.rule_name.startswith("AwsSolutions-IAM5["):
                continue
            for resource in violation.violating_resources:
                generated = policy_paths.get(resource.construct_path or "")
                if generated is not None:
                    acknowledge(
                        generated, f"AwsSolutions::{violation.rule_name}", _GENERATED_POLICY_REASON
                    )
        for node in pipeline.node.find_all():
            if isinstance(node, codebuild.CfnProject):
                for pack in ("HIPAA.Security", "PCI.DSS.321"):
                    acknowledge(
                        node,
                        f"{pack}::{pack}-CodeBuildProjectSourceRepoUrl",
                        _GENERATED_PROJECT_REASON,
                    )


def _codebuild_builds_on_anything(statement: dict[str, Any]) -> bool:
    """Whether an IAM statement allows starting, stopping or reading builds on ``*``."""
    actions = statement.get("Action", [])
    actions = actions if isinstance(actions, list) else [actions]
    return (
        statement.get("Effect") == "Allow"
        and statement.get("Resource") == "*"
        and any(a in _BUILD_ACTIONS for a in actions)
    )


_BUILD_ACTIONS = frozenset(
    {"codebuild:StartBuild", "codebuild:StopBuild", "codebuild:BatchGetBuilds"}
)
