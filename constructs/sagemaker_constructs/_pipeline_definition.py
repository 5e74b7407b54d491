"""Pure checks and transformations of a SageMaker Pipelines definition (no CDK imports).

A definition is the JSON document the SageMaker Python SDK's ``pipeline.definition()``
produces (schema version ``2020-12-01``)::

    {"Version": "2020-12-01", "Metadata": {}, "Parameters": [...],
     "PipelineExperimentConfig": {...}, "Steps": [...]}

:func:`validate` finds every problem SageMaker would reject at deploy time or that would
fail an execution (dangling references, cycles); :func:`render` replaces ``${Name}``
placeholders with values; :func:`step_types` tells which jobs the pipeline starts and
:func:`named_resources` which functions, queues, clusters, endpoints and lineage entities
its steps use (for least-privilege permissions). A step type this module does not know
(:func:`unknown_step_types`) is not a problem here: a newer SDK may write it, and the
construct warns about it instead.

Placeholders: ``${Name}`` (``Name`` = letter, then letters, digits or ``_``) anywhere in a
string is replaced by the substitution ``Name``. ``${!Name}`` is the escape for a literal
``${Name}`` (the same convention as CloudFormation's ``Fn::Sub``). Anything else that looks
like ``${...}`` (a CDK token, ``${a.b}``, ``${ }``) is left alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import aws_rules as aws

__all__ = [
    "JOB_STEP_TYPES",
    "KNOWN_STEP_TYPES",
    "KNOWN_VERSIONS",
    "MAX_DEFINITION_LENGTH",
    "PARAMETER_TYPES",
    "PLACEHOLDER_NAME_PATTERN",
    "RESOURCE_KINDS",
    "NamedResource",
    "Problem",
    "find_placeholders",
    "named_resources",
    "parameter_names",
    "parse_json",
    "queue_arn_parts",
    "render",
    "serialize",
    "step_types",
    "unknown_step_types",
    "validate",
    "validate_size",
]

#: Schema versions SageMaker accepts in a definition's ``Version``.
KNOWN_VERSIONS = frozenset({"2020-12-01"})

#: Step ``Type`` values: exactly the SageMaker Python SDK's ``StepTypeEnum`` (2.257; ``Model``
#: is a CreateModel step). tests/data/sdk_pipelines/manifest.json records the SDK's list and
#: a test keeps the two equal.
KNOWN_STEP_TYPES = frozenset(
    {
        "AutoML",
        "Callback",
        "ClarifyCheck",
        "Condition",
        "EMR",
        "Endpoint",
        "EndpointConfig",
        "Fail",
        "InferenceComponent",
        "Lambda",
        "Lineage",
        "Model",
        "Processing",
        "QualityCheck",
        "RegisterModel",
        "Training",
        "Transform",
        "Tuning",
    }
)

#: Step types that start a SageMaker job, model or model package under the pipeline's role.
JOB_STEP_TYPES = frozenset(
    {
        "AutoML",
        "ClarifyCheck",
        "Model",
        "Processing",
        "QualityCheck",
        "RegisterModel",
        "Training",
        "Transform",
        "Tuning",
    }
)

#: Pipeline parameter types and the JSON types their ``DefaultValue`` may have.
PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "String": (str,),
    "Integer": (int,),
    "Float": (int, float),
    "Boolean": (bool,),
}

#: SageMaker's limit on ``PipelineDefinition`` (CreatePipeline / UpdatePipeline), characters.
MAX_DEFINITION_LENGTH = 1_048_576

#: Step names: ``[A-Za-z0-9\-_]``, 1 to 64 characters (SageMaker ``StepName``).
STEP_NAME_PATTERN = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")
#: Parameter names: ``[A-Za-z0-9\-_]``, 1 to 256 characters (``PipelineParameterName``).
PARAMETER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9\-_]{1,256}$")
#: Substitution names: a letter, then letters, digits or underscores.
PLACEHOLDER_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

_PLACEHOLDER = re.compile(r"\$\{(!?)([A-Za-z][A-Za-z0-9_]*)\}")
_GET_STEP = re.compile(r"^Steps\.([^.\[\]]+)")
_GET_PARAMETER = re.compile(r"^Parameters\.([^.\[\]]+)$")
_GET_ROOTS = ("Parameters.", "Steps.", "Execution.")
_BRANCHES = ("IfSteps", "ElseSteps")


@dataclass(frozen=True)
class Problem:
    """One problem: ``argument`` (a path into the definition) holds ``value``, which breaks
    ``rule``; ``fix`` says what to do."""

    argument: str
    value: Any
    rule: str
    fix: str

    def __str__(self) -> str:
        return f"{self.argument}={self.value!r}: {self.rule}. Fix: {self.fix}."


def parse_json(text: str, *, origin: str = "definition") -> tuple[Any, list[Problem]]:
    """Parse ``text``; a syntax error becomes a :class:`Problem` naming line and column."""
    try:
        return json.loads(text), []
    except json.JSONDecodeError as error:
        excerpt = text[max(0, error.pos - 20) : error.pos + 20]
        return None, [
            Problem(
                origin,
                excerpt,
                f"is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
                "correct the JSON syntax (export it with the SDK's pipeline.definition())",
            )
        ]


def serialize(definition: Any) -> str:
    """The compact JSON text SageMaker receives."""
    return json.dumps(definition, separators=(",", ":"), ensure_ascii=False)


def validate_size(text: str, *, argument: str = "definition") -> list[Problem]:
    """The serialized definition must fit SageMaker's ``PipelineDefinition`` limit."""
    if len(text) <= MAX_DEFINITION_LENGTH:
        return []
    return [
        Problem(
            argument,
            f"<{len(text)} characters>",
            f"must be at most {MAX_DEFINITION_LENGTH} characters (SageMaker's "
            "PipelineDefinition limit)",
            "split the pipeline or move large literals (scripts, configurations) to S3",
        )
    ]


# --------------------------------------------------------------------------- traversal


@dataclass(frozen=True)
class _Step:
    name: str | None
    type: Any
    path: str
    body: Mapping[str, Any]
    parent: str | None  # the Condition step whose branch holds this step


def _label(step: Mapping[str, Any], index: int) -> str:
    name = step.get("Name")
    return name if isinstance(name, str) and name else f"#{index}"


def _collect_steps(steps: Any, path: str, parent: str | None, out: list[_Step]) -> None:
    if not isinstance(steps, list):
        return
    for index, step in enumerate(steps):
        if not isinstance(step, Mapping):
            continue
        step_path = f"{path}[{_label(step, index)}]"
        name = step.get("Name") if isinstance(step.get("Name"), str) else None
        out.append(_Step(name, step.get("Type"), step_path, step, parent))
        arguments = step.get("Arguments")
        if step.get("Type") == "Condition" and isinstance(arguments, Mapping):
            for branch in _BRANCHES:
                _collect_steps(arguments.get(branch), f"{step_path}.Arguments.{branch}", name, out)


def _walk(value: Any, path: str, *, skip_branches: bool = False) -> Iterator[tuple[str, Any]]:
    """Every node under ``value`` with its path. ``skip_branches`` leaves out the step
    objects nested in a Condition's ``IfSteps``/``ElseSteps`` (they are steps of their own)."""
    yield path, value
    if isinstance(value, Mapping):
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else str(key)
            if skip_branches and key in _BRANCHES and isinstance(child, list):
                for index, item in enumerate(child):
                    if not isinstance(item, Mapping):
                        yield f"{child_path}[{index}]", item
                continue
            yield from _walk(child, child_path, skip_branches=skip_branches)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk(child, f"{path}[{index}]", skip_branches=skip_branches)


def _gets(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every ``{"Get": ...}`` expression's path and target under ``value`` (own step only)."""
    for node_path, node in _walk(value, path, skip_branches=True):
        if isinstance(node, Mapping) and "Get" in node:
            yield f"{node_path}.Get", node["Get"]


def _steps(definition: Mapping[str, Any]) -> list[_Step]:
    out: list[_Step] = []
    _collect_steps(definition.get("Steps"), "Steps", None, out)
    return out


def step_types(definition: Any) -> set[str]:
    """The step types a (valid) definition uses, including steps inside condition branches."""
    if not isinstance(definition, Mapping):
        return set()
    return {step.type for step in _steps(definition) if isinstance(step.type, str)}


def unknown_step_types(definition: Any) -> dict[str, list[str]]:
    """Step types that are not in :data:`KNOWN_STEP_TYPES` -> the paths of the steps that use
    them (``definition.Steps[Name]``), in document order."""
    if not isinstance(definition, Mapping):
        return {}
    found: dict[str, list[str]] = {}
    for step in _steps(definition):
        if isinstance(step.type, str) and step.type and step.type not in KNOWN_STEP_TYPES:
            found.setdefault(step.type, []).append(f"definition.{step.path}")
    return found


def parameter_names(definition: Any) -> set[str]:
    """Names of the parameters a definition declares."""
    if not isinstance(definition, Mapping) or not isinstance(definition.get("Parameters"), list):
        return set()
    return {
        p["Name"]
        for p in definition["Parameters"]
        if isinstance(p, Mapping) and isinstance(p.get("Name"), str)
    }


# --------------------------------------------------------------------------- named resources

#: What :class:`NamedResource` ``kind`` values mean (``name`` holds what the definition wrote):
RESOURCE_KINDS: Mapping[str, str] = {
    "lambda-function": "a Lambda step's FunctionArn (an ARN, or a function name)",
    "sqs-queue": "a Callback step's SqsQueueUrl",
    "emr-cluster": "the id of the running EMR cluster an EMR step adds its step to",
    "emr-new-cluster": "an EMR step that creates a cluster of its own (name: the step's name)",
    "emr-service-role": "the ServiceRole of a cluster an EMR step creates (a role name or ARN)",
    "emr-instance-role": "the JobFlowRole of a cluster an EMR step creates (an instance "
    "profile, named like its role)",
    "endpoint-config": "an EndpointConfig step's EndpointConfigName, or the configuration an "
    "Endpoint step deploys",
    "endpoint": "an Endpoint step's EndpointName, or the endpoint an InferenceComponent "
    "step is placed on",
    "inference-component": "an InferenceComponent step's InferenceComponentName",
    "model": "the model an InferenceComponent step deploys; '*' when a Model step of the "
    "pipeline creates it (SageMaker names such models at run time)",
    "action": "a Lineage step's action name",
    "artifact": "a Lineage step's artifact name",
    "context": "a Lineage step's context name",
    "lineage-arn": "the ARN of an existing lineage entity a Lineage association names",
    "association": "a Lineage step that associates lineage entities (name: the step's name)",
}


@dataclass(frozen=True)
class NamedResource:
    """A resource the step ``step`` (of type ``step_type``) uses, by ``kind`` and ``name``."""

    step: str
    step_type: str
    kind: str
    name: str


_LINEAGE_KINDS = (
    ("Actions", "ActionName", "action"),
    ("Artifacts", "ArtifactName", "artifact"),
    ("Contexts", "ContextName", "context"),
)


def named_resources(
    definition: Any, *, opaque: Callable[[str], bool] = lambda value: False
) -> tuple[list[NamedResource], list[Problem]]:
    """The functions, queues, clusters, hosting resources and lineage entities the steps of a
    (valid) definition name, and a problem for each one that is not known before the pipeline
    runs (a pipeline parameter, another step's output, an expression): a least-privilege role
    cannot be written for it.

    ``opaque(value)`` tells which strings stand for values known at deploy time (CDK tokens);
    they are taken as they are. A name read from another step resolves to that step's literal
    name (an Endpoint step deploying ``{"Get": "Steps.Config.EndpointConfigName"}`` deploys
    the name the ``Config`` step creates); a model created by a Model step is ``"*"``.
    """
    if not isinstance(definition, Mapping):
        return [], []
    steps = _steps(definition)
    by_name = {step.name: step for step in steps if step.name is not None}
    found: list[NamedResource] = []
    problems: list[Problem] = []

    for step in steps:
        if isinstance(step.type, str) and step.name is not None:
            _named_by_step(step, by_name, opaque, found, problems)
    return found, problems


def _named_by_step(
    step: _Step,
    by_name: Mapping[str, _Step],
    opaque: Callable[[str], bool],
    found: list[NamedResource],
    problems: list[Problem],
) -> None:
    step_name, step_type = step.name or "", str(step.type)
    path = f"definition.{step.path}"
    arguments = step.body.get("Arguments")
    arguments = arguments if isinstance(arguments, Mapping) else {}

    def add(kind: str, value: Any, where: str, *, created: str | None = None) -> None:
        name = _literal(value, by_name, created)
        if name is None or not (opaque(name) or name):
            problems.append(_unknown(f"{path}.{where}", value, kind))
        else:
            found.append(NamedResource(step_name, step_type, kind, name))

    if step.type == "Lambda":
        add("lambda-function", step.body.get("FunctionArn"), "FunctionArn")
    elif step.type == "Callback":
        url = step.body.get("SqsQueueUrl")
        if isinstance(url, str) and not opaque(url) and queue_arn_parts(url) is None:
            problems.append(
                Problem(
                    f"{path}.SqsQueueUrl",
                    url,
                    "is not an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/"
                    "<queue>)",
                    "give the URL of the queue the callback messages go to",
                )
            )
        else:
            add("sqs-queue", url, "SqsQueueUrl")
    elif step.type == "EMR":
        config = arguments.get("ClusterConfig")
        if isinstance(config, Mapping):
            found.append(NamedResource(step_name, step_type, "emr-new-cluster", step_name))
            for key, kind in (
                ("ServiceRole", "emr-service-role"),
                ("JobFlowRole", "emr-instance-role"),
            ):
                if key in config:
                    add(kind, config[key], f"Arguments.ClusterConfig.{key}")
        else:
            add("emr-cluster", arguments.get("ClusterId"), "Arguments.ClusterId")
    elif step.type == "EndpointConfig":
        add(
            "endpoint-config",
            arguments.get("EndpointConfigName"),
            "Arguments.EndpointConfigName",
        )
    elif step.type == "Endpoint":
        add("endpoint", arguments.get("EndpointName"), "Arguments.EndpointName")
        add(
            "endpoint-config",
            arguments.get("EndpointConfigName"),
            "Arguments.EndpointConfigName",
            created="EndpointConfig",
        )
    elif step.type == "InferenceComponent":
        add(
            "inference-component",
            arguments.get("InferenceComponentName"),
            "Arguments.InferenceComponentName",
        )
        add(
            "endpoint",
            arguments.get("EndpointName"),
            "Arguments.EndpointName",
            created="Endpoint",
        )
        specification = arguments.get("Specification")
        if isinstance(specification, Mapping) and "ModelName" in specification:
            add(
                "model",
                specification["ModelName"],
                "Arguments.Specification.ModelName",
                created="Model",
            )
    elif step.type == "Lineage":
        for key, name_key, kind in _LINEAGE_KINDS:
            entities = arguments.get(key, [])
            for index, entity in enumerate(entities if isinstance(entities, list) else []):
                value = entity.get(name_key) if isinstance(entity, Mapping) else None
                add(kind, value, f"Arguments.{key}[{index}].{name_key}")
        associations = arguments.get("Associations", [])
        if isinstance(associations, list) and associations:
            found.append(NamedResource(step_name, step_type, "association", step_name))
        for index, association in enumerate(associations if isinstance(associations, list) else []):
            for end in ("Source", "Destination"):
                reference = association.get(end) if isinstance(association, Mapping) else None
                if isinstance(reference, Mapping) and "Arn" in reference:
                    add(
                        "lineage-arn",
                        reference["Arn"],
                        f"Arguments.Associations[{index}].{end}.Arn",
                    )


def _literal(value: Any, steps: Mapping[str, _Step], created: str | None) -> str | None:
    """``value`` as a name known before the run: a string, or (when ``created`` names a step
    type) a ``Get`` of the name a step of that type creates."""
    if isinstance(value, str):
        return value
    if created is None or not isinstance(value, Mapping) or not isinstance(value.get("Get"), str):
        return None
    match = re.match(r"^Steps\.([^.\[\]]+)\.([A-Za-z]+)$", value["Get"])
    if match is None or match.group(1) not in steps:
        return None
    source = steps[match.group(1)]
    if source.type != created:
        return None
    if created == "Model":
        return "*" if match.group(2) == "ModelName" else None
    arguments = source.body.get("Arguments")
    key = f"{created}Name"
    if match.group(2) != key or not isinstance(arguments, Mapping):
        return None
    name = arguments.get(key)
    return name if isinstance(name, str) else None


def _unknown(path: str, value: Any, kind: str) -> Problem:
    return Problem(
        path,
        value,
        f"names {RESOURCE_KINDS[kind]} that is not known before the pipeline runs, so the "
        "role created for the pipeline cannot be limited to it",
        "write the value literally in the definition (or as a ${Name} substitution), or pass "
        "your own role that may use it",
    )


#: ``https://sqs.<region>.amazonaws.com[.cn]/<account>/<queue>`` and the legacy
#: ``https://<region>.queue.amazonaws.com/<account>/<queue>``.
_QUEUE_URL = re.compile(
    r"^https://(?:sqs\.(?P<region>[a-z0-9-]+)|(?P<legacy>[a-z0-9-]+)\.queue)"
    r"\.amazonaws\.com(?P<cn>\.cn)?/(?P<account>\d{12})/(?P<queue>[A-Za-z0-9_-]{1,80}(?:\.fifo)?)$"
)


def queue_arn_parts(url: str) -> tuple[str, str, str, str] | None:
    """(partition, region, account, queue name) of an SQS queue URL, or ``None``."""
    match = _QUEUE_URL.match(url)
    if match is None:
        return None
    partition = "aws-cn" if match.group("cn") else "aws"
    region = match.group("region") or match.group("legacy")
    return partition, region, match.group("account"), match.group("queue")


# --------------------------------------------------------------------------- placeholders


def find_placeholders(definition: Any) -> dict[str, str]:
    """``${Name}`` placeholders (not ``${!Name}`` escapes) -> path of their first use."""
    found: dict[str, str] = {}
    for path, node in _walk(definition, ""):
        if isinstance(node, str):
            for match in _PLACEHOLDER.finditer(node):
                if not match.group(1):
                    found.setdefault(match.group(2), path or "definition")
    return found


def render(definition: Any, values: Mapping[str, str]) -> Any:
    """A copy of ``definition`` with each ``${Name}`` replaced by ``values[Name]`` and each
    ``${!Name}`` escape turned into a literal ``${Name}``. Unknown names stay as they are
    (:func:`validate` reports them)."""

    def replace(match: re.Match[str]) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped:
            return "${" + name + "}"
        return values.get(name, match.group(0))

    if isinstance(definition, str):
        return _PLACEHOLDER.sub(replace, definition)
    if isinstance(definition, Mapping):
        return {key: render(value, values) for key, value in definition.items()}
    if isinstance(definition, list):
        return [render(value, values) for value in definition]
    return definition


# --------------------------------------------------------------------------- validation


def validate(
    definition: Any, *, substitution_names: Collection[str] | None = None
) -> list[Problem]:
    """Every problem in ``definition``, in document order.

    ``substitution_names``: the names that placeholders may use; placeholders without a
    substitution and substitutions no placeholder uses are problems. ``None`` skips the
    placeholder checks.
    """
    if not isinstance(definition, Mapping):
        return [
            Problem(
                "definition",
                type(definition).__name__,
                "must be a JSON object with Version, Parameters and Steps",
                "pass the document the SDK's pipeline.definition() returns",
            )
        ]
    problems: list[Problem] = []
    problems += _check_version(definition)
    declared = _check_parameters(definition, problems)
    steps = _steps(definition)
    _check_steps_list(definition, problems)
    names = _check_step_identities(steps, problems)
    _check_instance_types(steps, problems)
    edges = _check_references(definition, steps, names, declared, problems)
    problems += _find_cycles(edges)
    if substitution_names is not None:
        problems += _check_placeholders(definition, substitution_names)
    return problems


def _check_version(definition: Mapping[str, Any]) -> list[Problem]:
    version = definition.get("Version")
    if version is None:
        return [
            Problem(
                "definition.Version",
                None,
                "is required",
                f'add "Version": "{min(KNOWN_VERSIONS)}"',
            )
        ]
    if version not in KNOWN_VERSIONS:
        return [
            Problem(
                "definition.Version",
                version,
                f"must be one of {sorted(KNOWN_VERSIONS)}",
                f'use "Version": "{min(KNOWN_VERSIONS)}"',
            )
        ]
    return []


def _check_parameters(definition: Mapping[str, Any], problems: list[Problem]) -> set[str]:
    parameters = definition.get("Parameters", [])
    if not isinstance(parameters, list):
        problems.append(
            Problem(
                "definition.Parameters",
                type(parameters).__name__,
                "must be a list of {Name, Type, DefaultValue} objects",
                "write Parameters as a JSON array",
            )
        )
        return set()
    declared: set[str] = set()
    for index, parameter in enumerate(parameters):
        path = f"definition.Parameters[{index}]"
        if not isinstance(parameter, Mapping):
            problems.append(
                Problem(path, parameter, "must be an object", "use {Name, Type, DefaultValue}")
            )
            continue
        name = parameter.get("Name")
        if isinstance(name, str):
            path = f"definition.Parameters[{name}]"
        if not isinstance(name, str) or not PARAMETER_NAME_PATTERN.match(name):
            problems.append(
                Problem(
                    f"{path}.Name",
                    name,
                    "must be 1-256 characters of [A-Za-z0-9-_]",
                    "rename the parameter",
                )
            )
        elif name in declared:
            problems.append(
                Problem(
                    f"{path}.Name",
                    name,
                    "is declared more than once (parameter names must be unique)",
                    "remove or rename the duplicate parameter",
                )
            )
        else:
            declared.add(name)
        kind = parameter.get("Type")
        if kind not in PARAMETER_TYPES:
            problems.append(
                Problem(
                    f"{path}.Type",
                    kind,
                    f"must be one of {sorted(PARAMETER_TYPES)}",
                    "use a type the SDK's ParameterString/Integer/Float/Boolean produce",
                )
            )
        elif "DefaultValue" in parameter:
            default = parameter["DefaultValue"]
            allowed = PARAMETER_TYPES[kind]
            wrong_bool = isinstance(default, bool) and bool not in allowed
            if not isinstance(default, allowed) or wrong_bool:
                problems.append(
                    Problem(
                        f"{path}.DefaultValue",
                        default,
                        f"must be a {kind} value",
                        f"give a default of type {kind} or change the parameter's Type",
                    )
                )
    return declared


def _check_steps_list(definition: Mapping[str, Any], problems: list[Problem]) -> None:
    steps = definition.get("Steps")
    if not isinstance(steps, list) or not steps:
        problems.append(
            Problem(
                "definition.Steps",
                steps,
                "must be a list with at least one step",
                "add the pipeline's steps",
            )
        )
        return
    for index, step in enumerate(steps):
        if not isinstance(step, Mapping):
            problems.append(
                Problem(
                    f"definition.Steps[{index}]",
                    step,
                    "must be an object with Name, Type and Arguments",
                    "write each step as a JSON object",
                )
            )


def _check_step_identities(steps: list[_Step], problems: list[Problem]) -> set[str]:
    names: set[str] = set()
    for step in steps:
        path = f"definition.{step.path}"
        if step.name is None or not STEP_NAME_PATTERN.match(step.name):
            problems.append(
                Problem(
                    f"{path}.Name",
                    step.name if step.name is not None else step.body.get("Name"),
                    "must be 1-64 characters of [A-Za-z0-9-_]",
                    "give the step a valid, unique name",
                )
            )
        elif step.name in names:
            problems.append(
                Problem(
                    f"{path}.Name",
                    step.name,
                    "is used by more than one step (step names must be unique, including "
                    "steps inside condition branches)",
                    "rename one of the steps",
                )
            )
        if step.name is not None:
            names.add(step.name)
        if not isinstance(step.type, str) or not step.type:
            problems.append(
                Problem(
                    f"{path}.Type",
                    step.type,
                    "must be a non-empty string (the step type, such as "
                    f"{', '.join(sorted(KNOWN_STEP_TYPES)[:4])}, ...)",
                    "use the Type the SageMaker Python SDK produces for the step",
                )
            )
    return names


#: Where each job step names its instance type, and the botocore enum that lists the types.
_INSTANCE_TYPES: Mapping[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "Processing": ((("ProcessingResources", "ClusterConfig", "InstanceType"), aws.PROCESSING),),
    "Training": ((("ResourceConfig", "InstanceType"), aws.TRAINING),),
    "Tuning": ((("TrainingJobDefinition", "ResourceConfig", "InstanceType"), aws.TRAINING),),
    "Transform": ((("TransformResources", "InstanceType"), aws.TRANSFORM),),
}


def _check_instance_types(steps: list[_Step], problems: list[Problem]) -> None:
    """A literal instance type of a job step must be one SageMaker offers for that job (a
    ``{"Get": ...}`` parameter is only known at execution)."""
    for step in steps:
        for keys, shape in _INSTANCE_TYPES.get(step.type if isinstance(step.type, str) else "", ()):
            value: Any = step.body.get("Arguments")
            for key in keys:
                value = value.get(key) if isinstance(value, Mapping) else None
            if not isinstance(value, str):
                continue
            problem = aws.instance_type_problem(value, shape)
            if problem is not None:
                path = ".".join((f"{step.path}.Arguments", *keys))
                problems.append(Problem(path, value, *problem))


def _names_hint(names: set[str]) -> str:
    shown = sorted(names)[:10]
    more = ", ..." if len(names) > len(shown) else ""
    return f"name one of the pipeline's steps ({', '.join(shown)}{more})"


def _check_references(
    definition: Mapping[str, Any],
    steps: list[_Step],
    names: set[str],
    declared: set[str],
    problems: list[Problem],
) -> dict[str, list[str]]:
    """Check DependsOn, condition branches and Get references; return the dependency edges
    (step -> the steps that must run before it)."""
    edges: dict[str, list[str]] = {name: [] for name in names}

    def before(step: str | None, upstream: str) -> None:
        if step is not None and upstream in names:
            edges.setdefault(step, []).append(upstream)

    for step in steps:
        path = f"definition.{step.path}"
        if step.parent is not None and step.name is not None:
            before(step.name, step.parent)
        depends_on = step.body.get("DependsOn", [])
        if not isinstance(depends_on, list):
            problems.append(
                Problem(
                    f"{path}.DependsOn", depends_on, "must be a list of step names", "use a list"
                )
            )
            depends_on = []
        for upstream in depends_on:
            if upstream not in names:
                problems.append(
                    Problem(
                        f"{path}.DependsOn",
                        upstream,
                        "names a step that does not exist",
                        _names_hint(names),
                    )
                )
            before(step.name, upstream)
        arguments = step.body.get("Arguments")
        if step.type == "Condition" and isinstance(arguments, Mapping):
            for branch in _BRANCHES:
                items = arguments.get(branch, [])
                if not isinstance(items, list):
                    problems.append(
                        Problem(
                            f"{path}.Arguments.{branch}",
                            items,
                            "must be a list of steps or step names",
                            "use a list",
                        )
                    )
                    continue
                for item in items:
                    if isinstance(item, Mapping):
                        continue  # a nested step: checked as a step of its own
                    if item not in names:
                        problems.append(
                            Problem(
                                f"{path}.Arguments.{branch}",
                                item,
                                "names a step that does not exist",
                                _names_hint(names),
                            )
                        )
                    elif isinstance(item, str) and step.name is not None:
                        before(item, step.name)
        for get_path, target in _gets(
            {key: value for key, value in step.body.items() if key != "DependsOn"}, path
        ):
            upstream = _check_get(get_path, target, names, declared, problems)
            if upstream is not None:
                before(step.name, upstream)
    for key, value in definition.items():
        if key != "Steps":
            for get_path, target in _gets(value, f"definition.{key}"):
                if isinstance(target, str) and target.startswith("Steps."):
                    problems.append(
                        Problem(
                            get_path,
                            target,
                            "outside the steps, a Get may only read Parameters and Execution",
                            "move the reference into a step",
                        )
                    )
                else:
                    _check_get(get_path, target, names, declared, problems)
    return edges


def _check_get(
    path: str, target: Any, names: set[str], declared: set[str], problems: list[Problem]
) -> str | None:
    """Check one Get target; return the step it reads from, if any."""
    if not isinstance(target, str) or not target.startswith(_GET_ROOTS):
        problems.append(
            Problem(
                path,
                target,
                "must read Parameters.<name>, Steps.<name>... or Execution.<variable>",
                "correct the reference",
            )
        )
        return None
    step = _GET_STEP.match(target)
    if step:
        if step.group(1) not in names:
            problems.append(
                Problem(path, target, "reads a step that does not exist", _names_hint(names))
            )
            return None
        return step.group(1)
    if target.startswith("Parameters."):
        parameter = _GET_PARAMETER.match(target)
        if parameter is None or parameter.group(1) not in declared:
            hint = ", ".join(sorted(declared)) or "none declared"
            problems.append(
                Problem(
                    path,
                    target,
                    "reads a parameter that is not declared in Parameters",
                    f"declare it in Parameters or use a declared one ({hint})",
                )
            )
    return None


def _find_cycles(edges: Mapping[str, list[str]]) -> list[Problem]:
    """One problem per dependency cycle (step -> its upstream steps)."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(edges, white)
    stack: list[str] = []
    seen_cycles: set[frozenset[str]] = set()
    problems: list[Problem] = []

    def visit(node: str) -> None:
        colour[node] = grey
        stack.append(node)
        for upstream in edges.get(node, []):
            state = colour.get(upstream, black)
            if state == grey:
                cycle = stack[stack.index(upstream) :]
                key = frozenset(cycle)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    # Print the cycle in execution order (upstream first), from its
                    # alphabetically first step so the message is stable.
                    ring = list(reversed(cycle))
                    start = ring.index(min(ring))
                    ring = ring[start:] + ring[:start]
                    order = [*ring, ring[0]]
                    problems.append(
                        Problem(
                            f"definition.Steps[{order[0]}]",
                            " -> ".join(order),
                            "is part of a dependency cycle (DependsOn, condition branches and "
                            "Get references to other steps all order steps)",
                            "remove one of the dependencies so the steps form a DAG",
                        )
                    )
            elif state == white:
                visit(upstream)
        stack.pop()
        colour[node] = black

    for node in sorted(edges):
        if colour[node] == white:
            visit(node)
    return problems


def _check_placeholders(
    definition: Mapping[str, Any], substitution_names: Collection[str]
) -> list[Problem]:
    problems: list[Problem] = []
    used = find_placeholders(definition)
    for name, path in used.items():
        if name not in substitution_names:
            problems.append(
                Problem(
                    f"definition.{path}",
                    "${" + name + "}",
                    f"uses the substitution {name!r}, which substitutions does not define",
                    f"pass substitutions={{{name!r}: ...}}, or write ${{!{name}}} for a literal "
                    f"'${{{name}}}'",
                )
            )
    for name in substitution_names:
        if not isinstance(name, str) or not PLACEHOLDER_NAME_PATTERN.match(name):
            problems.append(
                Problem(
                    "substitutions",
                    name,
                    "names must start with a letter and hold only letters, digits and '_'",
                    "rename the substitution",
                )
            )
        elif name not in used:
            problems.append(
                Problem(
                    "substitutions",
                    name,
                    f"is not used: the definition has no ${{{name}}} placeholder",
                    "remove the substitution or add the placeholder where the value belongs",
                )
            )
    return problems
