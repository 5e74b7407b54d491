"""Security groups that reach AWS services through the VPC's endpoints only, never 0.0.0.0/0.

One rule for every group the library creates (models, notebooks, the rollout's Lambdas):

- HTTPS to the VPC's CIDR block, where the interface endpoints' network interfaces live;
- HTTPS to a gateway endpoint's service (S3, DynamoDB) through the region's AWS-managed prefix
  list (``com.amazonaws.<region>.s3`` / ``.dynamodb``), when its id is given. A gateway
  endpoint is a route to the service's public addresses, so a group must name that prefix list
  to let traffic through (Amazon VPC User Guide, "Gateway endpoints for Amazon S3",
  considerations). CloudFormation has no way to look the id up and a CDK context lookup needs
  an AWS account at synth, so the id is an argument (``aws ec2 describe-managed-prefix-lists``).

Security groups do not filter traffic to the Amazon DNS server, so name resolution needs no rule.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from jsii.errors import JSIIError

from ._validation import ValidationProblems

__all__ = ["VPC_ENDPOINTS_RULE", "allow_https_to_endpoints", "check_vpc_cidr", "vpc_cidr"]

VPC_ENDPOINTS_RULE = "HTTPS to the VPC endpoints"
_GATEWAY_RULES = {
    "s3": "HTTPS to the S3 gateway endpoint",
    "dynamodb": "HTTPS to the DynamoDB gateway endpoint",
}


def vpc_cidr(vpc: ec2.IVpc) -> str | None:
    """The VPC's IPv4 CIDR block (a token for a VPC of this app or one imported with a token);
    ``None`` when the VPC was imported without ``vpc_cidr_block``."""
    try:
        return vpc.vpc_cidr_block
    except (RuntimeError, JSIIError):  # 'vpcCidrBlock' was not supplied when creating this VPC
        return None


def check_vpc_cidr(problems: ValidationProblems, argument: str, vpc: ec2.IVpc) -> None:
    """Record a problem when a group of ours would need the CIDR of a VPC imported without it."""
    problems.check(
        vpc_cidr(vpc) is not None,
        argument,
        "<VPC imported without vpc_cidr_block>",
        "the security group created here allows HTTPS to the VPC's CIDR block only (its "
        "interface endpoints), so the CIDR must be known, at least as a token",
        "import the VPC with vpc_cidr_block (Fn.import_value or a parameter works), or pass "
        "security_groups of your own",
    )


def allow_https_to_endpoints(
    group: ec2.ISecurityGroup,
    vpc: ec2.IVpc,
    *,
    s3_prefix_list_id: str | None = None,
    dynamodb_prefix_list_id: str | None = None,
) -> None:
    """Egress rules of ``group`` (created without ``allow_all_outbound``): HTTPS to ``vpc``'s
    CIDR block and to the gateway endpoints whose prefix-list ids are given."""
    cidr = vpc_cidr(vpc)
    if cidr is None:  # reported by check_vpc_cidr before anything is created
        raise ValueError("the VPC was imported without vpc_cidr_block")
    group.add_egress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), VPC_ENDPOINTS_RULE)
    for service, prefix_list_id in (
        ("s3", s3_prefix_list_id),
        ("dynamodb", dynamodb_prefix_list_id),
    ):
        if prefix_list_id is not None:
            group.add_egress_rule(
                ec2.Peer.prefix_list(prefix_list_id), ec2.Port.tcp(443), _GATEWAY_RULES[service]
            )
