"""The pure pipeline-definition checks: fast, no CDK, one rule per test."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sagemaker_constructs import _pipeline_definition as spec

REPO = Path(__file__).resolve().parents[1]
SDK_DEFINITION = json.loads(
    (Path(__file__).parent / "data" / "sdk_pipeline_definition.json").read_text()
)
TRAINING_PIPELINE = json.loads((REPO / "pipelines" / "training_pipeline.json").read_text())
TRAINING_SUBSTITUTIONS = [
    "RoleArn",
    "DataBucket",
    "ProcessingImageUri",
    "TrainingImageUri",
    "ModelPackageGroupName",
    "KmsKeyArn",
]


def step(name: str, type_: str = "Processing", **fields: Any) -> dict[str, Any]:
    return {"Name": name, "Type": type_, "Arguments": {}, **fields}


def definition(*steps: dict[str, Any], parameters: list[Any] | None = None) -> dict[str, Any]:
    return {"Version": "2020-12-01", "Parameters": parameters or [], "Steps": list(steps)}


def messages(document: Any, substitution_names: list[str] | None = None) -> list[str]:
    return [str(p) for p in spec.validate(document, substitution_names=substitution_names)]


def only(document: Any, substitution_names: list[str] | None = None) -> str:
    found = messages(document, substitution_names)
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------------ valid definitions


def test_sdk_definition_is_valid() -> None:
    assert spec.validate(SDK_DEFINITION, substitution_names=[]) == []


def test_sdk_definition_step_types_include_condition_branches() -> None:
    assert spec.step_types(SDK_DEFINITION) == {
        "Processing",
        "Training",
        "Condition",
        "RegisterModel",
        "Model",
        "Transform",
        "Fail",
    }


def test_training_pipeline_is_valid_with_its_substitutions() -> None:
    assert spec.validate(TRAINING_PIPELINE, substitution_names=TRAINING_SUBSTITUTIONS) == []
    assert set(spec.find_placeholders(TRAINING_PIPELINE)) == set(TRAINING_SUBSTITUTIONS)
    assert spec.parameter_names(TRAINING_PIPELINE) == {"InputDataUrl", "ModelApprovalStatus"}


def test_training_pipeline_has_the_seed_steps_in_order() -> None:
    top = [(s["Name"], s["Type"]) for s in TRAINING_PIPELINE["Steps"]]
    assert top == [
        ("PreprocessData", "Processing"),
        ("TrainModel", "Training"),
        ("EvaluateModel", "Processing"),
        ("CheckEvaluation", "Condition"),
    ]
    branch = TRAINING_PIPELINE["Steps"][3]["Arguments"]["IfSteps"]
    assert [s["Type"] for s in branch] == ["RegisterModel"]


def test_diamond_of_dependencies_is_not_a_cycle() -> None:
    document = definition(
        step("A"),
        step("B", DependsOn=["A"]),
        step("C", Arguments={"X": {"Get": "Steps.A.ProcessingOutputConfig"}}),
        step("D", DependsOn=["B", "C"]),
    )
    assert spec.validate(document) == []


# ------------------------------------------------------------------ structure


def test_not_an_object() -> None:
    assert "must be a JSON object" in only(["Steps"])


def test_missing_version() -> None:
    document = definition(step("A"))
    del document["Version"]
    assert only(document).startswith("definition.Version=None: is required")


def test_unknown_version() -> None:
    document = definition(step("A"))
    document["Version"] = "2019-01-01"
    assert "definition.Version='2019-01-01': must be one of ['2020-12-01']" in only(document)


@pytest.mark.parametrize("steps", [None, [], "A"])
def test_at_least_one_step(steps: Any) -> None:
    document = definition()
    document["Steps"] = steps
    assert "definition.Steps" in only(document)
    assert "at least one step" in only(document)


def test_step_must_be_an_object() -> None:
    document = definition(step("A"))
    document["Steps"].append("B")
    assert "definition.Steps[1]='B': must be an object" in only(document)


def test_duplicate_step_names() -> None:
    assert "definition.Steps[A].Name='A': is used by more than one step" in only(
        definition(step("A"), step("A", "Training"))
    )


def test_duplicate_step_name_inside_a_condition_branch() -> None:
    condition = step("Check", "Condition", Arguments={"IfSteps": [step("A")], "ElseSteps": []})
    found = only(definition(step("A"), condition))
    assert "definition.Steps[Check].Arguments.IfSteps[A].Name='A'" in found


def test_unknown_step_type_is_not_a_problem_but_is_reported() -> None:
    # A newer SDK's step type: the construct warns instead (test_pipeline_sdk).
    document = definition(
        step("A", "Trainign"),
        step("C", "Condition", Arguments={"IfSteps": [step("B", "Trainign")], "ElseSteps": []}),
    )
    assert messages(document) == []
    assert spec.unknown_step_types(document) == {
        "Trainign": ["definition.Steps[A]", "definition.Steps[C].Arguments.IfSteps[B]"]
    }


@pytest.mark.parametrize("type_", [None, "", 7])
def test_step_type_must_be_a_non_empty_string(type_: Any) -> None:
    assert "Type=" in only(definition(step("A", type_)))
    assert "must be a non-empty string" in only(definition(step("A", type_)))


def test_queue_urls() -> None:
    assert spec.queue_arn_parts("https://sqs.eu-west-1.amazonaws.com/111111111111/q.fifo") == (
        "aws",
        "eu-west-1",
        "111111111111",
        "q.fifo",
    )
    assert spec.queue_arn_parts("https://cn-north-1.queue.amazonaws.com.cn/111111111111/q") == (
        "aws-cn",
        "cn-north-1",
        "111111111111",
        "q",
    )
    assert spec.queue_arn_parts("https://sqs.us-east-1.amazonaws.com/queue") is None


def test_names_read_from_other_steps_resolve_to_their_literal_names() -> None:
    config = step("Config", "EndpointConfig", Arguments={"EndpointConfigName": "cfg"})
    deploy = step(
        "Deploy",
        "Endpoint",
        Arguments={
            "EndpointName": "ep",
            "EndpointConfigName": {"Get": "Steps.Config.EndpointConfigName"},
        },
    )
    found, problems = spec.named_resources(definition(config, deploy))
    assert problems == []
    assert [(r.step, r.kind, r.name) for r in found] == [
        ("Config", "endpoint-config", "cfg"),
        ("Deploy", "endpoint", "ep"),
        ("Deploy", "endpoint-config", "cfg"),
    ]


def test_a_name_from_a_step_of_another_type_is_not_known() -> None:
    train = step("Train", "Training")
    deploy = step(
        "Deploy",
        "Endpoint",
        Arguments={
            "EndpointName": {"Get": "Steps.Train.TrainingJobName"},
            "EndpointConfigName": "c",
        },
    )
    _, problems = spec.named_resources(definition(train, deploy))
    assert [p.argument for p in problems] == ["definition.Steps[Deploy].Arguments.EndpointName"]


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, None])
def test_step_name_pattern_and_length(name: Any) -> None:
    assert "must be 1-64 characters of [A-Za-z0-9-_]" in only(definition(step(name)))


# ------------------------------------------------------------------ references


def test_dangling_depends_on() -> None:
    found = only(definition(step("A"), step("B", DependsOn=["Missing"])))
    assert "definition.Steps[B].DependsOn='Missing': names a step that does not exist" in found
    assert "(A, B)" in found


def test_depends_on_must_be_a_list() -> None:
    assert "must be a list of step names" in only(definition(step("A", DependsOn="B")))


def test_dangling_condition_branch() -> None:
    condition = step("Check", "Condition", Arguments={"IfSteps": [], "ElseSteps": ["Nope"]})
    found = only(definition(condition))
    assert "definition.Steps[Check].Arguments.ElseSteps='Nope': names a step that does not" in found


def test_condition_branch_must_be_a_list() -> None:
    condition = step("Check", "Condition", Arguments={"IfSteps": "A"})
    assert "definition.Steps[Check].Arguments.IfSteps='A': must be a list" in only(
        definition(step("A"), condition)
    )


def test_get_of_a_missing_step() -> None:
    document = definition(step("A", Arguments={"Uri": {"Get": "Steps.Gone.ModelArtifacts"}}))
    assert "definition.Steps[A].Arguments.Uri.Get='Steps.Gone.ModelArtifacts': reads a step" in (
        only(document)
    )


def test_get_of_an_undeclared_parameter() -> None:
    document = definition(
        step("A", Arguments={"Uri": {"Get": "Parameters.InputUrl"}}),
        parameters=[{"Name": "InputDataUrl", "Type": "String"}],
    )
    found = only(document)
    assert "definition.Steps[A].Arguments.Uri.Get='Parameters.InputUrl'" in found
    assert "reads a parameter that is not declared" in found
    assert "(InputDataUrl)" in found


def test_get_inside_a_nested_step_is_checked_against_its_own_step() -> None:
    nested = step("Register", "RegisterModel", Arguments={"S": {"Get": "Parameters.Nope"}})
    condition = step("Check", "Condition", Arguments={"IfSteps": [nested]})
    found = only(definition(condition))
    assert "definition.Steps[Check].Arguments.IfSteps[Register].Arguments.S.Get" in found


@pytest.mark.parametrize("target", ["Parameter.X", 42, "steps.A"])
def test_get_must_have_a_known_root(target: Any) -> None:
    document = definition(step("A", Arguments={"X": {"Get": target}}))
    assert "must read Parameters.<name>, Steps.<name>... or Execution.<variable>" in only(document)


def test_get_of_a_step_outside_the_steps() -> None:
    document = definition(step("A"))
    document["PipelineExperimentConfig"] = {"TrialName": {"Get": "Steps.A.Name"}}
    assert "outside the steps, a Get may only read Parameters and Execution" in only(document)


def test_execution_variables_need_no_declaration() -> None:
    document = definition(step("A", Arguments={"X": {"Get": "Execution.PipelineExecutionId"}}))
    assert spec.validate(document) == []


# ------------------------------------------------------------------ cycles


def test_cycle_through_depends_on() -> None:
    found = only(definition(step("A", DependsOn=["B"]), step("B", DependsOn=["A"])))
    assert "is part of a dependency cycle" in found
    assert "'A -> B -> A'" in found or "'B -> A -> B'" in found


def test_step_depending_on_itself() -> None:
    assert "'A -> A': is part of a dependency cycle" in only(definition(step("A", DependsOn=["A"])))


def test_cycle_through_an_implicit_data_dependency() -> None:
    document = definition(
        step("Train", "Training", Arguments={"In": {"Get": "Steps.Evaluate.Outputs"}}),
        step("Evaluate", DependsOn=["Train"]),
    )
    found = only(document)
    assert "dependency cycle" in found
    assert "Train" in found
    assert "Evaluate" in found


def test_cycle_through_a_condition_branch() -> None:
    # The branch step runs after the condition, which waits for the branch step.
    condition = step(
        "Check", "Condition", DependsOn=["Register"], Arguments={"IfSteps": ["Register"]}
    )
    found = only(definition(step("Register", "RegisterModel"), condition))
    assert "dependency cycle" in found


def test_three_step_cycle_is_reported_once_in_execution_order() -> None:
    document = definition(
        step("A", DependsOn=["C"]), step("B", DependsOn=["A"]), step("C", DependsOn=["B"])
    )
    found = only(document)
    assert "'A -> B -> C -> A'" in found


# ------------------------------------------------------------------ parameters


def test_unknown_parameter_type() -> None:
    document = definition(step("A"), parameters=[{"Name": "Count", "Type": "Number"}])
    assert "definition.Parameters[Count].Type='Number': must be one of" in only(document)


def test_duplicate_parameter() -> None:
    parameters = [{"Name": "X", "Type": "String"}, {"Name": "X", "Type": "String"}]
    assert "is declared more than once" in only(definition(step("A"), parameters=parameters))


def test_parameter_name_pattern() -> None:
    parameters = [{"Name": "bad name", "Type": "String"}]
    assert "must be 1-256 characters" in only(definition(step("A"), parameters=parameters))


@pytest.mark.parametrize(
    ("kind", "default"),
    [("Integer", "1"), ("Integer", True), ("Float", "0.5"), ("Boolean", 1), ("String", 3)],
)
def test_parameter_default_must_match_its_type(kind: str, default: Any) -> None:
    parameters = [{"Name": "P", "Type": kind, "DefaultValue": default}]
    assert f"must be a {kind} value" in only(definition(step("A"), parameters=parameters))


def test_parameters_must_be_a_list() -> None:
    document = definition(step("A"))
    document["Parameters"] = {"Name": "X"}
    assert "definition.Parameters='dict': must be a list" in only(document)


# ------------------------------------------------------------------ placeholders


def test_unknown_placeholder() -> None:
    document = definition(step("A", Arguments={"RoleArn": "${RoleArn}"}))
    found = only(document, [])
    assert "definition.Steps[0].Arguments.RoleArn='${RoleArn}'" in found
    assert "substitutions does not define" in found


def test_unused_substitution() -> None:
    assert "substitutions='Bucket': is not used" in only(definition(step("A")), ["Bucket"])


def test_substitution_name_must_be_an_identifier() -> None:
    assert "names must start with a letter" in only(definition(step("A")), ["1x"])


def test_escaped_placeholder_is_literal_and_not_a_substitution() -> None:
    document = definition(step("A", Arguments={"Script": "echo ${!HOME} in ${Bucket}"}))
    assert spec.validate(document, substitution_names=["Bucket"]) == []
    rendered = spec.render(document, {"Bucket": "data"})
    assert rendered["Steps"][0]["Arguments"]["Script"] == "echo ${HOME} in data"


def test_render_replaces_every_occurrence_and_leaves_the_input_alone() -> None:
    document = definition(step("A", Arguments={"L": ["s3://${B}/a", "s3://${B}/b"], "N": 1}))
    original = copy.deepcopy(document)
    rendered = spec.render(document, {"B": "bucket"})
    assert rendered["Steps"][0]["Arguments"] == {"L": ["s3://bucket/a", "s3://bucket/b"], "N": 1}
    assert document == original


def test_tokens_and_other_dollar_braces_are_not_placeholders() -> None:
    document = definition(step("A", Arguments={"X": "${Token[TOKEN.12]}", "Y": "${a.b} ${ }"}))
    assert spec.find_placeholders(document) == {}
    assert spec.validate(document, substitution_names=[]) == []


# ------------------------------------------------------------------ JSON and size


def test_bad_json_names_line_and_column() -> None:
    document, problems = spec.parse_json('{\n  "Version": "2020-12-01",\n  "Steps": [,]\n}')
    assert document is None
    assert len(problems) == 1
    assert "is not valid JSON: Expecting value at line 3 column 13" in str(problems[0])


def test_size_limit() -> None:
    assert spec.validate_size("x" * spec.MAX_DEFINITION_LENGTH) == []
    (problem,) = spec.validate_size("x" * (spec.MAX_DEFINITION_LENGTH + 1))
    assert "must be at most 1048576 characters" in str(problem)


def test_serialize_is_compact_and_round_trips() -> None:
    text = spec.serialize(SDK_DEFINITION)
    assert ", " not in text[:200]
    assert json.loads(text) == SDK_DEFINITION


def test_all_problems_are_collected_in_document_order() -> None:
    document = {
        "Parameters": [{"Name": "P", "Type": "Text"}],
        "Steps": [step("A", "", DependsOn=["Z"]), step("A")],
    }
    found = messages(document, ["Unused"])
    assert [m.split("=")[0] for m in found] == [
        "definition.Version",
        "definition.Parameters[P].Type",
        "definition.Steps[A].Type",
        "definition.Steps[A].Name",
        "definition.Steps[A].DependsOn",
        "substitutions",
    ]


@pytest.mark.parametrize(
    ("type_", "arguments", "path", "kind"),
    [
        (
            "Processing",
            {"ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.t2.medium"}}},
            "ProcessingResources.ClusterConfig.InstanceType",
            "processing",
        ),
        (
            "Training",
            {"ResourceConfig": {"InstanceType": "ml.m5.huge"}},
            "ResourceConfig",
            "training",
        ),
        (
            "Tuning",
            {"TrainingJobDefinition": {"ResourceConfig": {"InstanceType": "m5.xlarge"}}},
            "TrainingJobDefinition.ResourceConfig.InstanceType",
            "training",
        ),
        (
            "Transform",
            {"TransformResources": {"InstanceType": "ml.t3.medium"}},
            "TransformResources.InstanceType",
            "batch transform",
        ),
    ],
)
def test_a_job_steps_instance_type_is_one_sagemaker_offers_for_that_job(
    type_: str, arguments: dict[str, Any], path: str, kind: str
) -> None:
    found = messages(definition(step("Job", type_, Arguments=arguments)))
    assert len(found) == 1
    assert f"Steps[Job].Arguments.{path}" in found[0]
    assert f"must be a SageMaker {kind} instance type" in found[0]


def test_an_instance_type_from_a_parameter_is_known_only_at_execution() -> None:
    arguments = {"ResourceConfig": {"InstanceType": {"Get": "Parameters.TrainingInstance"}}}
    parameters = [{"Name": "TrainingInstance", "Type": "String", "DefaultValue": "ml.m5.xlarge"}]
    document = definition(step("Job", "Training", Arguments=arguments), parameters=parameters)
    assert messages(document) == []
