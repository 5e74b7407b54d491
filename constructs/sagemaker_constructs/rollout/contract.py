"""The canary rollout's contract: every name that crosses a file or a process boundary.

The state machine, the construct, the command line (``sagemaker-rollout``), the app's stacks,
CloudWatch metric filters and outside tools all refer to these names. Each is written here
once and imported everywhere else; changing one is a change of the public contract (note it
in the README's changelog).

This module imports neither AWS CDK nor Node.js, so the command line can use it; the rules it
shares with the Lambda code (what "rolled back" means) are loaded from that code.
"""

from __future__ import annotations

from collections.abc import Mapping

from .rules import evaluator_module

# -- where a rollout is found ---------------------------------------------------------------

#: Tags that bind a rollout's state machine to its endpoint (set by ``CanaryRollout``, read by
#: ``sagemaker-rollout --endpoint`` and ``target_of``).
TAG_ENDPOINT = "sagemaker-constructs:endpoint-name"
TAG_BASELINE = "sagemaker-constructs:baseline-variant"
TAG_CANARY = "sagemaker-constructs:canary-variant"
#: The stack output that names the rollout's state machine (``sagemaker-rollout --stack``).
STACK_OUTPUT = "RolloutStateMachineArn"
#: Tag of the state machine that names its lock table (``sagemaker-rollout abort`` releases).
TAG_LOCK_TABLE = "sagemaker-constructs:lock-table"
#: With instance scaling: "<baseline count>,<canary count>" that a rollback sets (and abort).
TAG_INSTANCES = "sagemaker-constructs:rollback-instances"
#: With an autoscaled canary: "<min>,<max>,<instances>" of the canary as the template declares
#: them; a rollback (and abort) gives the canary this instance count and these scaling limits
#: back (``parse_scaling`` reads it).
TAG_CANARY_SCALING = "sagemaker-constructs:rollback-canary-scaling"

# -- the lock: one item per endpoint in the stack's lock table ------------------------------

_guard = evaluator_module("guard")  # the guard Lambda releases locks too
#: Partition key of the lock table: the endpoint's name.
LOCK_KEY: str = _guard.LOCK_KEY
#: The attribute that names the execution holding the lock (released only by its holder).
LOCK_HOLDER: str = _guard.LOCK_HOLDER

# -- capacity before traffic: Application Auto Scaling's names for a variant --------------

#: The scalable dimension of a variant's instance count.
SCALABLE_DIMENSION: str = _guard.SCALABLE_DIMENSION


def scalable_resource_id(endpoint: str, variant: str) -> str:
    """The ``ResourceId`` of a variant's scalable target (``endpoint/<name>/variant/<v>``)."""
    resource_id: str = _guard.scalable_resource_id(endpoint, variant)
    return resource_id


def parse_scaling(text: str) -> tuple[int, int, int]:
    """``TAG_CANARY_SCALING``'s value -> ``(min, max, instances)``."""
    parsed: tuple[int, int, int] = _guard.parse_scaling(text)
    return parsed


# -- hooks: the Lambda functions a rollout calls at its points --------------------------------

# The hook event and answer are written once, in the Lambda code (the smoke test is a hook),
# and loaded from there.
_hooks = evaluator_module("hooks")
#: The points a rollout calls hooks at, in the order a rollout reaches them.
HOOK_POINTS: tuple[str, ...] = _hooks.HOOK_POINTS
HOOK_BEFORE_TRAFFIC: str = _hooks.BEFORE_TRAFFIC
HOOK_AFTER_STEP: str = _hooks.AFTER_STEP
HOOK_BEFORE_PROMOTION: str = _hooks.BEFORE_PROMOTION
HOOK_AFTER_ROLLOUT: str = _hooks.AFTER_ROLLOUT
#: The keys of a hook's event that name the point and the hook (``sagemaker-rollout`` reads
#: them from the history to show which hook runs).
HOOK_EVENT_POINT = "hook"
HOOK_EVENT_NAME = "hook_name"
#: The keys of a hook's answer the state machine reads.
HOOK_ANSWER_PROCEED: str = _hooks.ANSWER_PROCEED
HOOK_ANSWER_REASON: str = _hooks.ANSWER_REASON
#: ``outcome.status`` of an ``after_rollout`` hook's event.
OUTCOME_COMPLETED: str = _hooks.OUTCOME_COMPLETED
OUTCOME_ROLLED_BACK: str = _hooks.OUTCOME_ROLLED_BACK
#: The name of the built-in smoke test among a rollout's ``before_traffic`` hooks (a hook of
#: the user may not take it).
SMOKE_TEST_HOOK = "smoke-test"

# -- execution input ------------------------------------------------------------------------

#: Keys an execution's input may set; each overrides the construct's default of that name (the
#: evaluator's input rules hold them: ``rollout_input.INPUT_KEYS``).
INPUT_KEYS: tuple[str, ...] = evaluator_module("rollout_input").INPUT_KEYS

# -- the execution's data that other programs read ------------------------------------------

#: The execution data the state machine publishes for other programs (``sagemaker-rollout``
#: reads only this, from the input of each entered state): an object with
#:
#: - ``STEP_PERCENT``: the canary's percentage in the step in progress (absent between steps),
#: - ``STEP_STEPS``: the schedule of canary percentages of this execution.
#:
#: Its other keys are the state machine's own working data; do not rely on them.
STEP_KEY = "step"
STEP_PERCENT = "percent"
STEP_STEPS = "steps"
#: The key of an approval request (the approval queue's ``MessageBody``) that carries the task
#: token; topic notifications never carry it.
APPROVAL_TOKEN_KEY = "task_token"  # noqa: S105 (a key name, not a secret)

# -- how an execution ends: error names (``DescribeExecution``'s ``error``) ------------------


class Errors:
    """Error names a failed execution ends with (and the names others send to it)."""

    #: the execution input (or the policy) is invalid; traffic was not changed
    INVALID_INPUT = "InvalidInput"
    #: the endpoint could not be described before the rollout; traffic was not changed
    START_FAILED = "StartFailed"
    #: the canary already served part of the traffic; traffic was not changed
    UNEXPECTED_STARTING_WEIGHTS = "UnexpectedStartingWeights"
    #: another execution of the same rollout was running; traffic was not changed
    ALREADY_RUNNING = "RolloutAlreadyRunning"
    #: the evaluator could not be invoked before the rollout; traffic was not changed
    PREFLIGHT_FAILED = "PreflightFailed"
    #: the canary failed a check, stayed inconclusive or was rejected: traffic is back on the
    #: baseline, verified
    ROLLED_BACK = "CanaryRolledBack"
    #: traffic could not be returned to the baseline: act now
    ROLLBACK_FAILED = "RollbackFailed"
    #: (within a cause) the endpoint did not become InService in time
    ENDPOINT_NOT_IN_SERVICE = "EndpointNotInService"
    #: (within a cause) the endpoint reported other weights than were set
    WEIGHTS_NOT_APPLIED = "WeightsNotApplied"
    #: (within a cause) the canary did not reach its share of the fleet before the weights
    CAPACITY_NOT_REACHED = "CapacityNotReached"
    #: (within a cause) a hook refused the canary or failed; the smoke test failed
    HOOK_REFUSED = "HookRefused"
    SMOKE_TEST_FAILED = "SmokeTestFailed"
    #: (within the state machine) a SageMaker call failed in a way a retry may cure
    SAGEMAKER_TRANSIENT = "SageMakerTransientError"
    #: the error ``sagemaker-rollout reject`` sends to an approval
    REJECTED = "Rejected"
    #: the error ``sagemaker-rollout abort`` stops an execution with
    ABORTED = "Aborted"


#: Errors that mean "the rollout rolled back": traffic is on the baseline, verified.
ROLLED_BACK_ERRORS = frozenset({Errors.ROLLED_BACK})

#: The error type the evaluator Lambda raises for an event it rejects (its policy, variants
#: or window): the state machine ends such an execution in ``InvalidInput``.
EVALUATOR_INVALID_EVENT = "ValueError"
#: The evaluator's error types that a retry may cure (CloudWatch throttled or unavailable after
#: the client's own retries, incomplete data); ``CloudWatchRejectedError`` (access denied)
#: is not among them.
EVALUATOR_TRANSIENT_ERRORS = ("CloudWatchUnavailableError", "MetricDataError")

# -- notifications (the ``event`` of each SNS message) ---------------------------------------


class Events:
    """The ``event`` of each notification the rollout publishes."""

    STARTED = "ROLLOUT_STARTED"
    STEP_ADVANCED = "STEP_ADVANCED"
    APPROVAL_REQUIRED = "APPROVAL_REQUIRED"
    ROLLED_BACK = "ROLLED_BACK"
    COMPLETED = "ROLLOUT_COMPLETED"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"
    #: an ``after_rollout`` hook failed or refused (the outcome stands)
    HOOK_FAILED = "HOOK_FAILED"


# -- what "rolled back" means ---------------------------------------------------------------

# One definition for the state machine, the command line and the guard Lambda, written in the
# Lambda code (which the guard runs) and loaded from there.
_weights = evaluator_module("weights")
#: Weights of a rolled-back endpoint: all traffic on the baseline, none on the canary.
ROLLED_BACK_BASELINE_WEIGHT: int = _weights.ROLLED_BACK_BASELINE_WEIGHT
ROLLED_BACK_CANARY_WEIGHT: int = _weights.ROLLED_BACK_CANARY_WEIGHT


def is_rolled_back(weights: Mapping[str, float], *, baseline: str, canary: str) -> bool:
    """True when ``weights`` (variant name -> ``CurrentWeight``) show a finished rollback.

    The state machine's "Rollback Took?" check, ``sagemaker-rollout abort`` and the guard use
    this rule: the baseline at ``ROLLED_BACK_BASELINE_WEIGHT`` and the canary at
    ``ROLLED_BACK_CANARY_WEIGHT``, as the endpoint reports them.
    """
    answer: bool = _weights.is_rolled_back(weights, baseline=baseline, canary=canary)
    return answer


# -- CloudWatch -----------------------------------------------------------------------------

#: Namespace of the rollout's own metrics (from its execution log).
METRIC_NAMESPACE = "SageMakerConstructs/CanaryRollout"

# -- the command line's exit status ---------------------------------------------------------

EXIT_PROMOTED = 0
#: A command that steers (start without --watch, approve, reject, release-canary) succeeded.
EXIT_OK = 0
#: Every error of the command itself, usage errors included (never 2, which means rolled back).
EXIT_ERROR = 1
EXIT_ROLLED_BACK = 2
EXIT_ABORTED = 3
EXIT_FAILED = 4
EXIT_RUNNING = 5
#: Interrupted (Ctrl-C): the shells' 128 + SIGINT.
EXIT_INTERRUPTED = 130

#: What each exit status means, in order (``sagemaker-rollout --help`` lists these; the table
#: in the command line's docstring says the same).
EXIT_STATUSES: tuple[tuple[int, str], ...] = (
    (EXIT_PROMOTED, "the rollout promoted the canary to 100 %, or the shadow evaluation passed"),
    (
        EXIT_ERROR,
        "an error of the command itself (usage, a bad argument, no credentials, no rollout ...)",
    ),
    (
        EXIT_ROLLED_BACK,
        "the rollout rolled back, or the shadow evaluation did not pass (FAIL or INCONCLUSIVE)",
    ),
    (EXIT_ABORTED, "the rollout or the shadow evaluation was aborted"),
    (
        EXIT_FAILED,
        "the rollout or the shadow evaluation failed otherwise "
        "(invalid input, rollback failed ...)",
    ),
    (EXIT_RUNNING, "the rollout or the shadow evaluation is still running (status only)"),
    (EXIT_INTERRUPTED, "the command was interrupted (Ctrl-C)"),
)

# -- state names that one part of the definition hands over to another ----------------------


class States:
    """State names that one phase of the definition hands over to another (or tests read).

    Each phase module builds its own states; these are its entries and exits.
    """

    #: input and lock: the definition's first state
    START = "Load Defaults"
    #: lock: take the endpoint's lock (after the input is validated)
    LOCK = "Take Lock"
    #: start: the first step's data (index 0), before any traffic; hands over to the
    #: ``before_traffic`` hooks (the smoke test first) or to ``START_STEP``
    INIT_STEP = "Init Step"
    #: step: where every step begins (computes the step's percentages)
    START_STEP = "Start Step"
    #: capacity: raise the canary's capacity to its share before the weights move (with an
    #: autoscaled variant); exits to ``SET_WEIGHTS``
    RAISE_CAPACITY = "Raise Capacity"
    #: capacity: restore counts and limits after a verified rollback, then notify
    RESTORE_AFTER_ROLLBACK = "Restore Capacity After Rollback"
    #: capacity: restore counts and limits after the promotion, then notify
    RESTORE_AFTER_PROMOTION = "Restore Capacity After Promotion"
    #: approval: entered after "Start Step"; exits to ``BEFORE_UPDATE``
    APPROVAL = "Approval Pending?"
    #: traffic: wait for InService, set the step's weights, verify them
    BEFORE_UPDATE = "Before Update"
    SET_WEIGHTS = "Set Weights"
    #: bake: the step's evaluation window starts here
    START_BAKE = "Start Bake"
    #: bake: a step has passed and is recorded; the ``after_step`` (and, after the last step,
    #: ``before_promotion``) hooks run before it
    NEXT_STEP = "Next Step"
    #: bake: the output of a promoted rollout (the ``after_rollout`` hooks run before it)
    COMPLETED = "Completed"
    #: rollback: entries by reason
    FAILED_CHECK = "Failed Check"
    STILL_INCONCLUSIVE = "Still Inconclusive"
    STEP_ERROR = "Step Error"
    ROLLBACK_READY = "Rollback Ready"
    ROLLBACK_SET_WEIGHTS = "Rollback Set Weights"
    ROLLED_BACK = "Rolled Back"
    ROLLBACK_ERROR = "Rollback Error"
    #: notifications
    NOTIFY_STARTED = "Notify Started"


#: The phase an execution is in, by the phase's entry state it entered last
#: (``sagemaker-rollout`` shows it; a hook's task shows as that hook: ``HOOK_EVENT_POINT``).
PHASE_OF_ENTRY: Mapping[str, str] = {
    States.START: "checking the input and taking the lock",
    States.NOTIFY_STARTED: "starting",
    States.APPROVAL: "approval",
    States.BEFORE_UPDATE: "waiting for the endpoint",
    States.RAISE_CAPACITY: "capacity: raising the canary to its share",
    States.SET_WEIGHTS: "shifting traffic",
    States.START_BAKE: "bake: evaluating",
    States.RESTORE_AFTER_PROMOTION: "capacity: restoring the template's limits",
    States.ROLLBACK_READY: "rolling back",
    States.RESTORE_AFTER_ROLLBACK: "capacity: restoring the template's limits",
}


# -- shadow evaluation ------------------------------------------------------------------------
#
# ``ShadowEvaluation`` judges a shadow variant against the production variant with the same
# evaluator and policy, and changes nothing on the endpoint. Its names are apart from the
# rollout's: its state machine carries none of the rollout's tags, so ``sagemaker-rollout``
# never takes it for a rollout (``sagemaker-rollout shadow`` starts it; ``watch``, ``status``
# and ``abort`` know an execution of it by its own tags).

_shadow_input = evaluator_module("shadow_input")
#: Keys a shadow evaluation's execution input may set (the evaluator's ``shadow_input`` rules).
SHADOW_INPUT_KEYS: tuple[str, ...] = _shadow_input.SHADOW_INPUT_KEYS
#: The key of the evaluator's event that checks a shadow evaluation's execution input.
SHADOW_VALIDATE_KEY: str = _shadow_input.VALIDATE_KEY

#: The stack output that names a shadow evaluation's state machine (the app sets it;
#: ``sagemaker-rollout shadow --stack`` reads it).
SHADOW_STACK_OUTPUT = "ShadowEvaluationStateMachineArn"
#: Tags that bind a shadow evaluation's state machine to its endpoint and variants.
TAG_SHADOW_ENDPOINT = "sagemaker-constructs:shadow-evaluation-endpoint"
TAG_PRODUCTION_VARIANT = "sagemaker-constructs:production-variant"
TAG_SHADOW_VARIANT = "sagemaker-constructs:shadow-variant"

#: The verdicts, as the evaluator answers them (the output's and the notification's
#: ``verdict``).
VERDICT_PASS = "PASS"  # noqa: S105 (a verdict, not a secret)
VERDICT_FAIL = "FAIL"
VERDICT_INCONCLUSIVE = "INCONCLUSIVE"
#: The keys of a passed evaluation's output (and of the verdict notification) that other
#: programs read: the verdict, the evaluator's reasons and its checks (each with ``name``,
#: ``verdict``, ``baseline`` (production), ``canary`` (shadow), ``threshold``, ``p_value``).
SHADOW_VERDICT = "verdict"
SHADOW_REASONS = "reasons"
SHADOW_CHECKS = "checks"


class ShadowErrors:
    """Error names a failed shadow evaluation ends with (``DescribeExecution``'s ``error``).

    A verdict other than PASS fails the execution, so that whatever started it (a pipeline
    step, a script) can gate on the execution's status alone.
    """

    #: the execution input (or the policy) is invalid; nothing was judged
    INVALID_INPUT = Errors.INVALID_INPUT
    #: the shadow variant failed a check; the cause names the checks and the evaluator's reasons
    FAILED = "ShadowFailed"
    #: no verdict at the end of the bake and every extension (too little shadow traffic)
    INCONCLUSIVE = "ShadowInconclusive"
    #: the endpoint did not become InService, could not be described, or lacks the production
    #: variant or the shadow variant; nothing was judged
    NOT_READY = "ShadowNotReady"
    #: the evaluator could not be invoked, or failed after its retries
    EVALUATION_FAILED = "ShadowEvaluationFailed"
    #: (within a cause) DescribeEndpoint lists no such production variant with that shadow
    #: variant
    VARIANTS_MISSING = "ShadowVariantMissing"


class ShadowEvents:
    """The ``event`` of each notification a shadow evaluation publishes (in the rollout's
    message format: ``event``, ``endpoint_name``, ``baseline_variant``, ``canary_variant``,
    ``execution_arn``, then the event's own keys)."""

    STARTED = "SHADOW_EVALUATION_STARTED"
    #: the verdict (PASS, FAIL or INCONCLUSIVE), its reasons and checks
    VERDICT = "SHADOW_EVALUATION_VERDICT"
    #: the evaluator failed after the evaluation had started (no verdict)
    ERROR = "SHADOW_EVALUATION_ERROR"


class ShadowStates:
    """State names of a shadow evaluation's definition that tests and tools read."""

    #: the definition's first state: the construct's defaults
    START = "Load Defaults"
    #: the evaluator checks the execution input
    VALIDATE_INPUT = "Validate Input"
    #: wait until the endpoint is InService
    BEFORE_EVALUATION = "Before Evaluation"
    #: DescribeEndpoint: the production variant and the shadow variant must be listed
    DESCRIBE_VARIANTS = "Describe Variants"
    #: the evaluation window starts here (every evaluation judges it from this state on)
    START_WINDOW = "Start Window"
    EVALUATE = "Evaluate"
    EXTEND = "Extend Bake"
    #: the endings by verdict (each builds the result, notifies, then ends)
    PASSED = "Shadow Passed"
    FAILED = "Shadow Failed"
    INCONCLUSIVE = "Shadow Inconclusive"


#: Errors that mean "the shadow variant did not pass": a FAIL verdict, or no verdict at the end
#: of the bake and every extension (``sagemaker-rollout`` exits with ``EXIT_ROLLED_BACK``, 2,
#: as for a rolled-back rollout: the candidate did not pass).
SHADOW_NOT_PASSED_ERRORS = frozenset({ShadowErrors.FAILED, ShadowErrors.INCONCLUSIVE})

#: The phase a shadow evaluation is in, by the state it entered last among these
#: (``sagemaker-rollout`` shows it; the rollout's are ``PHASE_OF_ENTRY``, and the two share
#: some state names, such as ``START``).
SHADOW_PHASE_OF_ENTRY: Mapping[str, str] = {
    ShadowStates.START: "checking the input",
    ShadowStates.BEFORE_EVALUATION: "waiting for the endpoint",
    ShadowStates.DESCRIBE_VARIANTS: "checking that the endpoint lists both variants",
    ShadowStates.START_WINDOW: "shadow: evaluating",
    ShadowStates.EXTEND: "shadow: evaluating, bake extended (INCONCLUSIVE so far)",
    ShadowStates.PASSED: "reporting the verdict",
    ShadowStates.FAILED: "reporting the verdict",
    ShadowStates.INCONCLUSIVE: "reporting the verdict",
}
