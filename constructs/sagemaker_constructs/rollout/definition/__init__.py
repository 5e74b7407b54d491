"""The canary rollout's Amazon States Language definition, built phase by phase (no CDK).

:func:`build_definition` returns the state machine that :class:`~..construct.CanaryRollout`
deploys. Its values (endpoint name, ARNs) may be CDK tokens: the construct serialises the dict
with ``Stack.to_json_string`` so the tokens become ``Fn::Join`` parts.

Phases, each a module that returns its entry state and names the states it hands over to
through ``contract.States``:

=====================  ===============================================================
``start.py``           input and lock: defaults, execution input, validation, the lock,
                       the starting weights, a preflight evaluation, the start notice
``step.py``            step and weights: a step's percentages; wait for InService, set
                       the weights, verify them
``lock.py``            lock: the endpoint's item in the stack's lock table, taken with a
                       conditional write; released before every terminal state
``approval.py``        approval: a task token before chosen steps
``bake.py``            bake and evaluation: evaluate every interval, decide, next step
``rollback.py``        rollback: restore the baseline, verify, fail with the reason
``notifications.py``   notifications: the messages published on each transition
``capacity.py``        capacity (with an autoscaled variant): the canary's share of the
                       fleet before the weights move; counts and limits restored at the end
``hooks.py``           hooks: the smoke test and the user's Lambda functions before
                       traffic, after each step, before the promotion and after the rollout
``builder.py``         the blocks every phase uses (describe, wait, set weights, evaluate)
=====================  ===============================================================

The execution state (``$``) holds:

``const``            ``complements`` (``[100, 99, ..., 0]``: baseline weight of a canary
                     percentage, as JSONPath cannot subtract), ``approval_steps``, ``approvals``
                     and, with instance scaling, ``instances`` (instance count per traffic
                     percentage 0-100)
``config``           the construct's defaults merged with the execution input (shallow; the
                     evaluator's ``validate_input`` answer, also kept in ``validated``)
``schedule``         ``count``: the number of steps
``event``            the evaluator event's fixed part: endpoint, variants and ``policy`` (the
                     construct's policy merged with ``input.policy``, top-level keys)
``lock``             the lock table's answers while the lock is taken
``step``             ``index``, ``percent``, ``steps``, ``baseline_weight``, ``approval_index``
                     (published for other programs: ``contract.STEP_KEY``)
``bake``             ``window`` (``{window_start, baseline_weight}``), ``elapsed``,
                     ``extensions``, ``evaluations``
``evaluation``       the last evaluator answer (verdict, reasons, baseline figures)
``reference``        ``{}``, then ``{baseline_reference}``: the last live ``baseline_summary``
``summary``          ``json``: the passed steps as comma-separated JSON objects
``rollback``         ``reason`` (the execution's failure cause)
``hook``             with hooks: the last hook's ``answer``
``outcome``          with ``after_rollout`` hooks: ``status`` (and ``reason``) of the ending
``capacity``         with capacity: ``fleet`` (both variants' instances), ``need`` (the
                     canary's share), ``raised``; ``limits`` the canary's new limits;
                     ``capacity_restore`` how restoring counts and limits at the end went
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..contract import States
from .approval import build_approval
from .bake import build_bake_and_evaluation
from .builder import (
    LAMBDA_RETRY_ERRORS,
    SAGEMAKER_TRANSIENT_CAUSES,
    SAGEMAKER_UNMODELLED_ERRORS,
    Bindings,
    Builder,
    Permission,
    RolloutDefaults,
    instance_counts,
)
from .capacity import (
    Capacity,
    Limits,
    build_raise_capacity,
    build_restore_after_promotion,
    capacity_table,
)
from .hooks import Hook, announced_phases, build_hooks
from .lock import release_before
from .rollback import build_rollback
from .start import build_input_and_lock
from .step import build_shift_traffic, build_start_step

__all__ = [
    "LAMBDA_RETRY_ERRORS",
    "SAGEMAKER_TRANSIENT_CAUSES",
    "SAGEMAKER_UNMODELLED_ERRORS",
    "Bindings",
    "Capacity",
    "Definition",
    "Hook",
    "Limits",
    "Permission",
    "RolloutDefaults",
    "build_definition",
    "capacity_table",
    "instance_counts",
]


#: Terminal states that must not release the lock: those of executions that never held it,
#: and a failed rollback (no rollout may start on an endpoint in that state; the guard takes
#: the lock over, restores the baseline and releases it).
UNLOCKED_TERMINALS = ("Rollout Already Running", "Invalid Input", "Rollback Failed")


@dataclass(frozen=True)
class Definition:
    """The state machine (``asl``) and what its tasks call (``permissions``)."""

    asl: dict[str, Any]
    permissions: tuple[Permission, ...]

    def statements(self) -> list[tuple[str, list[str], str]]:
        """``(sid, actions, resource)`` per resource the tasks call, in the order of first use.

        Exactly the actions the tasks call: the state machine's role gets these and, for its
        tasks, nothing else.
        """
        by_resource: dict[str, list[str]] = {}
        for permission in self.permissions:
            actions = by_resource.setdefault(permission.resource, [])
            if permission.action not in actions:
                actions.append(permission.action)
        grouped: list[tuple[str, list[str], str]] = []
        sids: set[str] = set()
        for resource, actions in by_resource.items():
            prefix = actions[0].split(":")[0]  # application-autoscaling -> ApplicationAutoscaling
            base = "".join(part.capitalize() for part in prefix.split("-")) + "Tasks"
            sid = base
            n = 2
            while sid in sids:
                sid, n = f"{base}{n}", n + 1
            sids.add(sid)
            grouped.append((sid, sorted(actions), resource))
        return grouped


def build_definition(
    bindings: Bindings,
    *,
    defaults: RolloutDefaults,
    approval_steps: Sequence[int] = (),
    approval_timeout_seconds: int = 86400,
    instance_scaling: tuple[int, int] | None = None,
    capacity: Capacity | None = None,
    hooks: Sequence[Hook] = (),
) -> Definition:
    """The rollout state machine (see the module docstring for ``$``) and its permissions.

    ``instance_scaling`` = ``(minimum, maximum)`` scales each variant's instance count with
    its traffic share at every step: ``max(minimum, ceil(maximum * share / 100))``.
    ``capacity`` (an autoscaled variant; never with ``instance_scaling``) adds the capacity
    phases (``capacity.py``). ``hooks`` (the smoke test among them) are called at their points
    (``hooks.py``).
    """
    if capacity is not None and instance_scaling is not None:
        raise ValueError("instance_scaling and capacity (autoscaled variants) exclude each other")
    b = Builder(bindings, approval_timeout_seconds=approval_timeout_seconds)
    start = build_input_and_lock(
        b,
        defaults=defaults,
        approval_steps=approval_steps,
        instance_scaling=instance_scaling,
        phases=announced_phases(capacity=capacity is not None, hooks=hooks),
    )
    build_start_step(b, instance_scaling=instance_scaling)
    build_approval(
        b,
        nxt=States.BEFORE_UPDATE,
        approvals=bool(approval_steps),
        carry=("canary_instances", "baseline_instances") if instance_scaling else (),
    )
    build_shift_traffic(b, instance_scaling=instance_scaling, capacity=capacity is not None)
    if capacity is not None:
        build_raise_capacity(b, capacity)
        build_restore_after_promotion(b, capacity, nxt="Notify Completed")
    build_bake_and_evaluation(b, capacity=capacity is not None)
    build_rollback(b, instance_scaling=instance_scaling, capacity=capacity)
    build_hooks(b, hooks)
    terminals = [name for name, state in b.states.items() if state["Type"] in ("Succeed", "Fail")]
    release_before(
        b,
        terminals,
        keep=UNLOCKED_TERMINALS,
        outputs={"Succeeded": States.COMPLETED, "Nothing To Do": "Already Promoted"},
    )
    asl = {
        "Comment": (
            f"Canary rollout of endpoint {b.endpoint_name}: shift traffic from {b.baseline} "
            f"to {b.canary} step by step, evaluate, roll back on failure."
        ),
        "StartAt": start,
        "States": b.states,
    }
    return Definition(asl=asl, permissions=tuple(b.permissions))
