"""The shared foundation of an environment: network, endpoints, flow logs and a KMS key."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from sagemaker_constructs.compliance import acknowledge_checkov
from sagemaker_constructs.log_groups import allow_cloudwatch_logs, retention
from sagemaker_constructs.roles import ScopedRole

from .config import EnvironmentConfig, ExistingVpcConfig, NewVpcConfig

__all__ = ["INTERFACE_ENDPOINTS", "S3_OBJECT_ACTIONS", "SAGEMAKER_LOG_GROUPS", "Foundation"]

#: The log groups SageMaker writes to for every notebook instance and job of an account and
#: region (it creates them on first use, unencrypted and kept forever, unless they exist).
#: One environment per account and region, so the foundation owns them.
SAGEMAKER_LOG_GROUPS = {
    "NotebookInstances": "/aws/sagemaker/NotebookInstances",
    "TrainingJobs": "/aws/sagemaker/TrainingJobs",
    "ProcessingJobs": "/aws/sagemaker/ProcessingJobs",
    "TransformJobs": "/aws/sagemaker/TransformJobs",
}

#: Interface endpoints for everything that runs inside the isolated subnets: notebooks
#: (SageMaker API, STS, KMS, ECR for images, CloudWatch Logs), models and endpoints
#: (SageMaker runtime, CloudWatch), the evaluator Lambda (CloudWatch metrics and alarms), the
#: rollout's guard Lambda (SageMaker API, Step Functions, SNS, CloudWatch) and the rollout
#: command line (Step Functions). S3 and DynamoDB (the rollout lock) are gateway endpoints.
INTERFACE_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "SageMakerApi": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
    "SageMakerRuntime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "CloudWatch": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
    "CloudWatchLogs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "Kms": ec2.InterfaceVpcEndpointAwsService.KMS,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "StepFunctions": ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
    "Sns": ec2.InterfaceVpcEndpointAwsService.SNS,
}


#: What the environment's code may do with its own buckets through the S3 gateway endpoint.
S3_OBJECT_ACTIONS = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:ListBucketMultipartUploads",
]


#: checkov's Lambda checks that do not fit the handler of CDK's ``Custom::VpcRestrictDefaultSG``
#: (a provider function CDK generates; its properties are not configurable).
_RESTRICT_DEFAULT_SG_HANDLER_CHECKS = {
    "CKV_AWS_115": "CloudFormation invokes this handler once per deployment of the VPC; "
    "there is no traffic for reserved concurrency to bound.",
    "CKV_AWS_116": "CloudFormation invokes this handler synchronously and reports its failure "
    "as the deployment's; a dead-letter queue applies to asynchronous invocations only.",
    "CKV_AWS_117": "The handler removes the default security group's rules through the EC2 API "
    "at deploy time and touches no data; it runs outside the VPC it configures.",
}


class Foundation(Construct):
    """Isolated network, VPC endpoints, flow logs and a customer-managed KMS key.

    ``vpc`` has isolated subnets only: no NAT gateway and no internet gateway. AWS services
    are reached through the interface endpoints in :data:`INTERFACE_ENDPOINTS` and the S3
    gateway endpoint. ``key`` (rotation on) encrypts the flow logs and is the default key
    for what later layers store. ``subnets`` selects the isolated subnets.

    **Endpoint policies.** Every interface endpoint admits only principals of this account
    (``aws:PrincipalAccount``), so code inside the VPC cannot use it with credentials of
    another account. The S3 gateway endpoint admits the buckets the environment names with
    :meth:`allow_buckets` (principals of this account, :data:`S3_OBJECT_ACTIONS` only) and the
    Amazon ECR layer bucket of the region (image layers are fetched with URLs that Amazon ECR
    presigns, so that statement names no principal): code in a container cannot write
    inference payloads to a bucket of another account through it.

    **Security groups.** Nothing in the VPC may send traffic to 0.0.0.0/0: the groups of the
    models and of the rollout's Lambdas allow HTTPS to the VPC's CIDR block (the interface
    endpoints) and to the gateway endpoints through the region's managed prefix lists, whose
    ids the configuration gives (``vpc.s3_prefix_list_id``, ``vpc.dynamodb_prefix_list_id``:
    CloudFormation cannot look them up and the app makes no lookups at synth).
    """

    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, id)
        removal = cdk.RemovalPolicy.RETAIN if config.retain_data else cdk.RemovalPolicy.DESTROY

        self.key = kms.Key(
            self,
            "Key",
            description=f"Encrypts the {config.name} environment's data and logs",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        # CloudWatch Logs encrypts log groups of this account and region with the key.
        allow_cloudwatch_logs(self.key, sid="AllowCloudWatchLogsOfThisAccount")

        vpc_config = config.vpc
        self.vpc: ec2.IVpc
        if isinstance(vpc_config, NewVpcConfig):
            self.vpc = self._new_vpc(vpc_config, config, removal)
            create_endpoints = True
        else:
            self.vpc = self._existing_vpc(vpc_config)
            create_endpoints = vpc_config.create_endpoints
        self.subnets = ec2.SubnetSelection(subnets=self.vpc.isolated_subnets)

        self.log_groups = self._sagemaker_log_groups(config, removal)

        self.endpoint_security_group: ec2.SecurityGroup | None = None
        self.s3_endpoint: ec2.GatewayVpcEndpoint | None = None
        self._allowed: list[str] = []
        if create_endpoints:
            self._endpoints(vpc_config.cidr)

    def allow_buckets(self, *bucket_names: str) -> None:
        """Admit this account's principals to ``bucket_names`` through the S3 endpoint."""
        if self.s3_endpoint is None or not bucket_names:
            return
        partition = cdk.Aws.PARTITION
        arns = sorted(f"arn:{partition}:s3:::{name}" for name in set(bucket_names))
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid=f"EnvironmentBuckets{len(self._allowed)}",
                principals=[iam.AnyPrincipal()],
                actions=S3_OBJECT_ACTIONS,
                resources=[*arns, *(f"{arn}/*" for arn in arns)],
                conditions={"StringEquals": {"aws:PrincipalAccount": cdk.Aws.ACCOUNT_ID}},
            )
        )
        self._allowed.extend(arns)

    def _new_vpc(
        self, vpc_config: NewVpcConfig, config: EnvironmentConfig, removal: cdk.RemovalPolicy
    ) -> ec2.Vpc:
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(vpc_config.cidr),
            max_azs=2 if not vpc_config.availability_zones else None,
            availability_zones=list(vpc_config.availability_zones) or None,
            nat_gateways=0,
            create_internet_gateway=False,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=20
                )
            ],
            restrict_default_security_group=True,
        )
        self._custom_resource_logs(removal, config.log_retention_days)
        flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            encryption_key=self.key,
            retention=retention(vpc_config.flow_log_retention_days),
            removal_policy=removal,
        )
        flow_log_role = ScopedRole(
            self,
            "FlowLogRole",
            assumed_by=iam.ServicePrincipal("vpc-flow-logs.amazonaws.com"),
            description="VPC flow logs delivery to CloudWatch Logs",
        )
        flow_log_group.grant_write(flow_log_role.grantee)
        flow_log_role.add_statements(
            iam.PolicyStatement(
                actions=["logs:DescribeLogGroups", "logs:DescribeLogStreams"],
                resources=[flow_log_group.log_group_arn],
            )
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                flow_log_group, flow_log_role.immutable_role
            ),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        return vpc

    def _sagemaker_log_groups(
        self, config: EnvironmentConfig, removal: cdk.RemovalPolicy
    ) -> dict[str, logs.LogGroup]:
        """SageMaker's account-wide log groups, with the environment's key and retention."""
        scope = Construct(self, "SageMakerLogs")
        return {
            id: logs.LogGroup(
                scope,
                id,
                log_group_name=name,
                encryption_key=self.key,
                retention=retention(config.log_retention_days),
                removal_policy=removal,
            )
            for id, name in SAGEMAKER_LOG_GROUPS.items()
        }

    def _custom_resource_logs(self, removal: cdk.RemovalPolicy, days: int) -> None:
        """The handler of CDK's ``Custom::VpcRestrictDefaultSG`` logs to an encrypted group with
        a retention of ours (it would otherwise create ``/aws/lambda/...`` on first run)."""
        stack = cdk.Stack.of(self)
        provider = stack.node.try_find_child("Custom::VpcRestrictDefaultSGCustomResourceProvider")
        handler = provider.node.try_find_child("Handler") if provider is not None else None
        if not isinstance(handler, cdk.CfnResource):
            return
        group = logs.LogGroup(
            self,
            "RestrictDefaultSecurityGroupLogs",
            encryption_key=self.key,
            retention=retention(days),
            removal_policy=removal,
        )
        handler.add_property_override("LoggingConfig", {"LogGroup": group.log_group_name})
        handler.add_dependency(group.node.default_child)  # type: ignore[arg-type]
        for check, reason in _RESTRICT_DEFAULT_SG_HANDLER_CHECKS.items():
            acknowledge_checkov(handler, check, reason)

    def _existing_vpc(self, vpc_config: ExistingVpcConfig) -> ec2.IVpc:
        return ec2.Vpc.from_vpc_attributes(
            self,
            "Vpc",
            vpc_id=vpc_config.vpc_id,
            vpc_cidr_block=vpc_config.cidr,
            availability_zones=list(vpc_config.availability_zones),
            isolated_subnet_ids=list(vpc_config.subnet_ids),
        )

    def _endpoints(self, cidr: str) -> None:
        security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="HTTPS from inside the VPC to the AWS service endpoints",
            allow_all_outbound=False,
        )
        security_group.add_ingress_rule(
            ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), "HTTPS from inside the VPC"
        )
        self.endpoint_security_group = security_group
        this_account = {"StringEquals": {"aws:PrincipalAccount": cdk.Aws.ACCOUNT_ID}}
        for name, service in INTERFACE_ENDPOINTS.items():
            endpoint = self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=self.subnets,
                security_groups=[security_group],
                private_dns_enabled=True,
                open=False,
            )
            endpoint.add_to_policy(
                iam.PolicyStatement(
                    sid="PrincipalsOfThisAccount",
                    principals=[iam.AnyPrincipal()],
                    actions=["*"],
                    resources=["*"],
                    conditions=this_account,
                )
            )
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3",
            service=ec2.GatewayVpcEndpointAwsService.S3,
            subnets=[self.subnets],
        )
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="EcrImageLayers",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[
                    f"arn:{cdk.Aws.PARTITION}:s3:::prod-{cdk.Aws.REGION}-starport-layer-bucket/*"
                ],
            )
        )
        dynamodb = self.vpc.add_gateway_endpoint(
            "DynamoDb",
            service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
            subnets=[self.subnets],
        )
        dynamodb.add_to_policy(
            iam.PolicyStatement(
                sid="TablesOfThisAccount",
                principals=[iam.AnyPrincipal()],
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:ConditionCheckItem",
                    "dynamodb:Query",
                    "dynamodb:DescribeTable",
                ],
                resources=[
                    f"arn:{cdk.Aws.PARTITION}:dynamodb:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:table/*"
                ],
                conditions=this_account,
            )
        )
