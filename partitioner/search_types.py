"""What the search takes and gives: its options, its progress snapshots, its iterations, its
result and why it stopped, and the compiler-style lines it prints (:mod:`partitioner.search`
runs it)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from cost_model.caps import MULTI_CONTEXT_CAPS, SINGLE_CONTEXT_CAPS, ResourceCaps
from cost_model.context import ContextFit
from partitioner.errors import UsageError
from partitioner.problem import PartitionProblem, PartitionResult

DEFAULT_TIMEOUT_S = 10.0
"""Global search budget of ``ctxfit compile`` (``--timeout``, ``allocator_param(timeout=...)``)."""

DEFAULT_WORKERS = 2
"""CP-SAT workers of ``ctxfit compile`` (``--workers``): the search plus the LP bound's solve."""

MIN_ITERATION_S = 0.5
"""No iteration is started with less than this left of the global budget."""

CONTEXT_SWITCH_MODES = ("allowed", "enabled", "disabled")


class StopReason(str, Enum):
    """What ended the search (the ``solver.stop_reason`` of the JSON)."""

    SINGLE_CONTEXT = "single context"
    """The single-context flow succeeded: nothing to search."""
    PROVEN = "proof"
    """An iteration proved that more contexts do not help (its optimum left contexts unused, or
    no partition into its K is faster than the best by more than
    :data:`~partitioner.search.IMPROVEMENT_EPS`)."""
    NO_IMPROVEMENT = "patience"
    """:data:`~partitioner.search.PATIENCE` iterations in a row without a better FPS."""
    ALL_CONTEXTS = "all contexts"
    """Every count up to ``max_contexts`` (or one context per layer) was tried."""
    BUDGET = "deterministic budget"
    """The deterministic budget (``--timeout`` of solver work) ran out."""
    WALL_CLOCK = "wall clock"
    """The wall clock reached ``--timeout`` (less
    :data:`~partitioner.search.WALL_RESERVE_FRACTION`)."""
    CTRL_C = "Ctrl-C"
    """The user pressed Ctrl-C."""

    @property
    def by_time(self) -> bool:
        """The search was cut short (budget, wall clock or Ctrl-C), not ended by its own rule."""
        return self in (StopReason.BUDGET, StopReason.WALL_CLOCK, StopReason.CTRL_C)


def k_ranges(ks: Sequence[int]) -> str:
    """Context counts as runs: ``2..10, 14``.

    >>> k_ranges([2, 3, 4, 5, 14]), k_ranges([7]), k_ranges([])
    ('2..5, 14', '7', '-')
    """
    runs: list[list[int]] = []
    for k in sorted(set(ks)):
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs) or "-"


Log = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class Progress:
    """A snapshot of the search for live displays and the solver history.

    Attributes:
        elapsed_s: seconds since the search started.
        num_contexts: the K being tried (1 in the single-context flow).
        iteration: the iteration number (0 before the multi-context flow).
        fps: FPS at the target batch of the solution just found in this iteration, if any.
        best_fps: the best FPS so far over all iterations, if any.
        bound_fps: the FPS the current iteration's proven bound allows (an upper bound on FPS).
        gap: relative gap of the current iteration, if known.
    """

    elapsed_s: float
    num_contexts: int
    iteration: int
    fps: float | None = None
    best_fps: float | None = None
    bound_fps: float | None = None
    gap: float | None = None


OnProgress = Callable[[Progress], None]


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    """How to search. Times in seconds; caps as fractions of the chip's totals.

    Attributes:
        single_caps: caps of the single-context flow (compiler default 75%).
        single_base_caps: the caps one context may pass on the control class or on memory,
            not both (:attr:`partitioner.flows.Flow.single_base_caps`; ``None``: no such rule).
        multi_caps: caps of the multi-context flow (compiler default 60%).
        context_switch: ``allowed`` (one context if it fits, else several), ``enabled`` (always
            the multi-context flow) or ``disabled`` (one context or a failure).
        batch: the batch size whose time ``T(B)`` is minimised (``optimize_for_batch``).
        timeout_s: the global budget of the multi-context search, charged with each solve's
            deterministic work at the calibrated rate (about wall seconds on an idle 2-core
            machine), so the answer does not depend on the load.
        wall_clock: ``timeout_s`` is also a wall-clock promise (``ctxfit compile --timeout``
            and ``allocator_param(timeout=...)`` set it): every solve is stopped ``(1 -
            WALL_RESERVE_FRACTION) x timeout_s`` wall seconds after the search started, which on
            a busy machine comes before the budget, and then the answer depends on the load.
            Without it (the Python API's default, deterministic) the wall clock only stops a
            search past ``WALL_SAFETY_FACTOR x timeout_s`` (a much slower machine).
        iteration_timeout_s: each iteration's limit; by default an iteration may use all of
            the budget left (an iteration usually ends sooner, at its proven optimum).
        max_contexts: the most contexts tried.
        min_contexts: the fewest contexts a multi-context answer may have: 2 with
            ``context_switch="enabled"`` (the compiler's multi-context flow splits the network
            even when it fits one context), or the count of pinned contexts.
        pins: layers pinned to contexts (``context_N = context([...])``).
        stop: set from another thread, stops the search as Ctrl-C does (the best partition so
            far, ``interrupted``): ``ctxfit explain`` runs compiles in a worker thread, where no
            signal arrives. Not part of the options' equality.
        seed, workers: CP-SAT's seed and worker count (same input -> same answer): one is the
            search without LP; two (the default) add a solve with the LP for a better bound when
            the search stops before its proof (see
            :meth:`~partitioner.cpsat_model.PartitionModel.solve`).
    """

    single_caps: ResourceCaps = SINGLE_CONTEXT_CAPS
    single_base_caps: ResourceCaps | None = None
    multi_caps: ResourceCaps = MULTI_CONTEXT_CAPS
    context_switch: str = "allowed"
    batch: int = 8
    timeout_s: float = DEFAULT_TIMEOUT_S
    iteration_timeout_s: float | None = None
    max_contexts: int = 64
    pins: Mapping[str, int] = field(default_factory=dict)
    seed: int = 0
    workers: int = DEFAULT_WORKERS
    min_contexts: int = 1
    wall_clock: bool = False
    stop: threading.Event | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.context_switch not in CONTEXT_SWITCH_MODES:
            raise UsageError(
                f"context switch mode {self.context_switch!r} is not one of "
                f"{', '.join(CONTEXT_SWITCH_MODES)}"
            )
        if not 1 <= self.batch <= 63:
            raise UsageError(f"batch {self.batch} is outside 1..63 (hailort's batch sizes)")
        if not self.timeout_s > 0:
            raise UsageError(f"timeout {self.timeout_s!r} s must be > 0")
        if self.workers < 1:
            raise UsageError(f"workers {self.workers} must be >= 1")
        if self.max_contexts < 1:
            raise UsageError(f"max_contexts {self.max_contexts} must be >= 1")
        if not 1 <= self.min_contexts <= self.max_contexts:
            raise UsageError(
                f"min_contexts {self.min_contexts} is outside 1..max_contexts ({self.max_contexts})"
            )
        pinned = max(self.pins.values(), default=0) + 1
        if self.context_switch == "disabled" and pinned > 1:
            raise UsageError(
                f"context switching is disabled (one context), but layers are pinned to "
                f"{pinned} contexts; pin only context_0 or allow context switching"
            )

    @property
    def multi_context_forced(self) -> bool:
        """The multi-context flow runs whether or not one context fits: context switch
        ``enabled``, or a layer pinned to a context after the first."""
        return self.context_switch == "enabled" or any(c > 0 for c in self.pins.values())

    @property
    def per_iteration_s(self) -> float:
        """Time limit of one iteration."""
        return self.iteration_timeout_s or max(MIN_ITERATION_S, self.timeout_s)


@dataclass(frozen=True, kw_only=True)
class Iteration:
    """One multi-context iteration: K allowed, what came of it, and the best so far."""

    index: int
    num_contexts: int
    outcome: str  # "found", "no better", "too many", "infeasible", "timeout", "interrupted"
    message: str
    fps: float | None
    best_fps: float | None
    contexts_used: int | None
    bound_s: float | None
    wall_seconds: float


@dataclass(frozen=True, kw_only=True)
class SearchResult:
    """What the search chose, before the report is built.

    Attributes:
        single_context: the single-context flow succeeded.
        assignment: layer name -> context index (all 0 when single-context).
        status: ``OPTIMAL`` when proven (single context, or CP-SAT proved that no partition
            into at most ``bound_contexts`` contexts is faster by more than
            :data:`~partitioner.search.IMPROVEMENT_EPS`, the convention of CP-SAT's relative
            gap limit, and the search ended by its own rule, not by time or Ctrl-C; ``gap`` has
            the exact figure), ``FEASIBLE`` otherwise.
        objective_s: ``T(B)`` of the chosen partition at ``batch`` in seconds (cost model).
        bound_s: proven lower bound on ``T(B)`` (see the module docstring), or ``None``.
        bound_contexts: the K the bound covers.
        interrupted: the search was stopped by Ctrl-C (the best so far is returned).
        single_fit: the single-context attempt (its binding resource and failure).
        bound_all_contexts: the bound covers every partition into two or more contexts, whatever
            their number (:func:`~partitioner.bounds.any_count_bound`); ``bound_contexts`` is
            then ``None``.
        stop_reason: what ended the search (:class:`StopReason`).
        contexts_tried: every K the search has a verdict on (solved, or ruled out by the
            total demand), ascending; ``(1,)`` for a single context.
        pinned_layers: layers the script pinned to a context (``context_N = context([...])``):
            the search, and so ``OPTIMAL``, covers only the partitions that keep them there.
    """

    single_context: bool
    assignment: dict[str, int]
    status: str
    batch: int
    objective_s: float
    bound_s: float | None
    bound_contexts: int | None
    wall_seconds: float
    iterations: tuple[Iteration, ...]
    interrupted: bool
    single_fit: ContextFit
    problem: PartitionProblem | None = None
    result: PartitionResult | None = None
    history: tuple[Progress, ...] = ()
    bound_all_contexts: bool = False
    stop_reason: StopReason = StopReason.SINGLE_CONTEXT
    contexts_tried: tuple[int, ...] = (1,)
    pinned_layers: int = 0

    @property
    def num_contexts(self) -> int:
        """Contexts in the chosen partition."""
        return max(self.assignment.values()) + 1

    @property
    def gap(self) -> float | None:
        """``(objective - bound) / objective``, or ``None`` without a bound."""
        if self.bound_s is None:
            return None
        return max(0.0, (self.objective_s - self.bound_s) / self.objective_s)

    @property
    def bound_scope(self) -> str:
        """What the bound covers, in words (``partitions into at most 10 contexts``)."""
        if self.bound_s is not None and self.bound_all_contexts:
            return "partitions into any number of contexts"
        if self.bound_s is None or self.bound_contexts is None:
            return "no bound covers the answer's context count"
        if self.bound_contexts == 1:
            return "one context"
        pinned = f" with the {self.pinned_layers} pinned layers" if self.pinned_layers else ""
        return f"partitions into at most {self.bound_contexts} contexts{pinned}"

    @property
    def stop_text(self) -> str:
        """How the search ended: ``stopped by wall clock; K tried 2..10`` (and ``; 95 layers
        pinned`` when the script pinned some)."""
        pinned = f"; {self.pinned_layers} layers pinned" if self.pinned_layers else ""
        return (
            f"stopped by {self.stop_reason.value}; K tried {k_ranges(self.contexts_tried)}{pinned}"
        )

    @property
    def status_text(self) -> str:
        """The status with how the multi-context search ended, for the solver line:
        ``FEASIBLE (stopped by wall clock; K tried 2..10)``; the bare status for one context."""
        if self.single_context:
            return self.status
        return f"{self.status} ({self.stop_text})"


def gap_text(gap: float | None) -> str:
    """A relative gap as printed everywhere (``1.28%``; ``-`` without a bound). A gap above zero
    never prints as ``0.00%``, which would read as proven: below 0.005% it is ``<0.01%``.

    >>> gap_text(None), gap_text(0.0), gap_text(0.00004), gap_text(0.0128)
    ('-', '0.00%', '<0.01%', '1.28%')
    """
    if gap is None:
        return "-"
    if 0.0 < gap < 0.00005:
        return "<0.01%"
    return f"{gap:.2%}"


def caps_line(caps: ResourceCaps) -> str:
    """The compiler's ``Resources optimization params`` line.

    >>> for part in caps_line(MULTI_CONTEXT_CAPS).split(", "):
    ...     print(part)
    Resources optimization params: max_control_utilization=60%
    max_compute_utilization=60%
    max_memory_utilization (weights)=60%
    max_input_aligner_utilization=60%
    max_apu_utilization=60%
    """
    return (
        "Resources optimization params: "
        f"max_control_utilization={caps.control:.0%}, "
        f"max_compute_utilization={caps.compute:.0%}, "
        f"max_memory_utilization (weights)={caps.memory:.0%}, "
        f"max_input_aligner_utilization={caps.input_aligner:.0%}, "
        f"max_apu_utilization={caps.apu:.0%}"
    )


def fmt_duration(seconds: float) -> str:
    """The compiler's ``7m 19s 824ms`` style.

    >>> fmt_duration(439.824), fmt_duration(2.5)
    ('7m 19s 824ms', '2s 500ms')
    """
    ms = int(round(seconds * 1000))
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return (f"{minutes}m " if minutes else "") + f"{secs}s {ms}ms"
