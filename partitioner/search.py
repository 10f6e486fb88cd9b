"""The search driver: the compiler's flow, in its vocabulary (HAILO.md section 4).

1. *Single-context flow*: every layer in one context at the single-context caps (75%),
   utilization raised to the highest FPS at which everything fits. If it fits, that is the answer
   (the compiler keeps one context whenever it can).
2. *Multi-context flow* (when one context does not fit, or ``context_switch_param(mode=enabled)``):
   the caps drop to the multi-context defaults (60%), the network is priced once into a
   :class:`~partitioner.problem.PartitionProblem`, and CP-SAT is run for K = k0, k0 + 1, ...
   contexts (``k0`` is the resource lower bound), each iteration with its own time limit and
   started from the best partition so far. A model for K allows *at most* K contexts, so the
   best so far never gets worse as K grows, and an optimum proven for K covers every smaller
   count. Once a best exists, an iteration looks only for partitions faster than it by more
   than :data:`IMPROVEMENT_EPS` (:func:`improvement_cutoff`): proving that none exists is much
   cheaper than proving the best optimal, and it bounds every partition into at most K
   contexts within ``IMPROVEMENT_EPS`` of the best. More contexts are tried while they help;
   the search stops at the global timeout, after :data:`PATIENCE` iterations without an
   improvement, when an optimal answer leaves contexts unused or an iteration proves that no
   partition improves on the best, or at ``max_contexts``.

The best partition so far is kept at every moment and returned on timeout or Ctrl-C. The bound
reported is the higher of two proven lower bounds on ``T(B)``: CP-SAT's, over every partition
into at most ``bound_contexts`` contexts (the largest K whose model returned a bound), and the
bound over every multi-context partition whatever its number of contexts
(:func:`~partitioner.bounds.any_count_bound`: the level relaxation and the heaviest path,
computed once before the iterations; ``bound_all_contexts``; then, unless it proves the DP
split, the set-partitioning bound over whole contexts, :func:`~partitioner.column_bound.
column_bound`, within :data:`COLUMN_BOUND_FRACTION` of the budget), raised after each iteration
by the lower of CP-SAT's bound over at most its K contexts and the relaxations' over K + 1 or
more (:func:`~partitioner.bounds.count_bounds`, and the whole contexts' per count). When the
best partition comes within :data:`IMPROVEMENT_EPS` of the latter, the search stops (a solve is
stopped at such a solution): no count of contexts can do better. On a network that is a single
path (a ViT) the bound is the DP's optimum: the DP split is the answer and no iteration runs.

Two clocks stop the search (:class:`StopReason`): the *deterministic budget* (``--timeout S`` is
S seconds of solver work at a calibrated rate, so that the same input gives the same answer on
any load) and, with ``SearchOptions.wall_clock`` (``ctxfit compile`` sets it), the *wall clock*,
a promise: every solve is stopped at ``(1 -`` :data:`WALL_RESERVE_FRACTION` ``) x S`` wall
seconds after the search started, pricing included, leaving the rest of S for the answer's
checks. On an idle machine the budget ends first; on a loaded one the wall clock does, and that
answer may differ from run to run. The log says which one stopped the search, and an answer
stopped by either (or by Ctrl-C) is never called ``OPTIMAL`` unless a bound over every count of
contexts proves it: contexts above the last K tried were not looked at.

Nothing here touches CP-SAT variables: :class:`~partitioner.cpsat_model.PartitionModel` does.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable

from cost_model.context import ContextFit, context_fit, standalone_failure
from cost_model.hardware import HardwareSpec
from cost_model.resources import COMPILER_LABELS, format_over
from partitioner.bounds import AnyCountBound, CountBounds, any_count_bound
from partitioner.column_bound import column_bound
from partitioner.cpsat_model import (
    WALL_SAFETY_FACTOR,
    PartitionModel,
    SolutionEvent,
    stop_keeping_bounds,
)
from partitioner.errors import InfeasiblePartitionError
from partitioner.graph import Network
from partitioner.pricing import build_problem
from partitioner.problem import (
    Partition,
    PartitionProblem,
    PartitionResult,
    Status,
    batch_time_units,
)
from partitioner.search_types import (
    CONTEXT_SWITCH_MODES,
    DEFAULT_TIMEOUT_S,
    DEFAULT_WORKERS,
    MIN_ITERATION_S,
    Iteration,
    Log,
    OnProgress,
    Progress,
    SearchOptions,
    SearchResult,
    StopReason,
    caps_line,
    fmt_duration,
    k_ranges,
)
from partitioner.splits import dp_split, greedy_split
from partitioner.validator import validate_partition

__all__ = [  # the search, and what it takes and gives (defined in partitioner.search_types)
    "CONTEXT_SWITCH_MODES",
    "DEFAULT_TIMEOUT_S",
    "DEFAULT_WORKERS",
    "IMPROVEMENT_EPS",
    "Iteration",
    "Log",
    "OnProgress",
    "Progress",
    "SearchOptions",
    "SearchResult",
    "StopReason",
    "caps_line",
    "fmt_duration",
    "improvement_cutoff",
    "k_ranges",
    "resource_lower_bound",
    "search",
]

PATIENCE = 2
"""Iterations in a row without a better FPS after which more contexts are not tried."""

IMPROVEMENT_EPS = 1e-3
"""A new best must be this much faster (relative) to count as an improvement. The iterations
after the first look only for such partitions, so when the last one proves there are none the
answer's gap is at most this, and the answer is reported ``OPTIMAL`` (optimal within this
tolerance, as CP-SAT's ``relative_gap_limit``; the gap has the exact figure)."""

COUNT_BOUNDS_FRACTION = 0.05
"""Share of ``--timeout`` (wall clock) the level relaxation may spend on its bounds for more
contexts than the fewest (:func:`~partitioner.bounds.count_bounds`; re-solves of one LP, 0.05-0.2
s each on the zoo's detectors), after its first solve."""

COLUMN_BOUND_FRACTION = 0.3
"""Share of ``--timeout`` (wall clock) the set-partitioning bound may take after the iterations
(:func:`~partitioner.column_bound.column_bound`: 0.6-5 s on the zoo's Hailo-8L detectors on
this 2-core machine), run only when the answer is not yet proven and at least that much of the
wall budget is left."""

COLUMN_BOUND_MAX_CELLS = 10_000
"""The set-partitioning bound is skipped above this many (layer, level) pairs (its LP has three
columns per pair and two rows per edge and level; YOLO11x on Hailo-8L has ~6,300)."""

BOUND_COST_FACTORS = (0.5, 2.0)
"""With the wall clock on, the path bound and the level relaxation are computed only when the time
left exceeds these multiples of the wall time the greedy and DP baselines just took (their cost
scales alike with layers x levels: on YOLO11x the path bound took 0.2x and the LP 1.5x the
baselines' 0.33 s), so that a budget of a second or two is not overrun by a bound (under load
every step takes several times longer)."""

WALL_RESERVE_FRACTION = 0.08
"""Share of ``--timeout`` kept on the wall clock for the work after the last solve (the greedy
and DP splits, the answer's validation and pricing): the solves are stopped at ``(1 - this) x
timeout`` wall seconds after the search started."""


def search(
    net: Network,
    hw: HardwareSpec,
    options: SearchOptions,
    *,
    log: Log = lambda _: None,
    progress: OnProgress | None = None,
) -> SearchResult:
    """Run the compiler-like flow on ``net`` and return the chosen partition.

    Raises:
        InfeasiblePartitionError: context switching disabled and one context is not enough (the
            compiler's message with every resource used/limit); a layer that fits no context
            even alone; no partition within the caps; no partition within the timeout.
        KeyboardInterrupt: Ctrl-C before any partition was found.
    """
    started = time.perf_counter()
    layers = [(layer, net.fan_out(layer.name)) for layer in net.layers]
    log("Trying to compile the network in a single context")
    single = context_fit(layers, hw, options.single_caps, base_caps=options.single_base_caps)
    if options.context_switch == "disabled":
        failure = standalone_failure(single)
        if failure is not None:
            raise InfeasiblePartitionError(failure)
    if single.fits and not options.multi_context_forced:
        assignment = {layer.name: 0 for layer in net.layers}
        # the frame rate with the graph's inputs and outputs over PCIe, from the cost model
        fps = validate_partition(net, hw, options.single_caps, assignment, batch=options.batch).fps
        assert fps is not None  # one context that fits is always valid
        log(f"Single context flow succeeded: {fps:,.1f} FPS")
        return SearchResult(
            single_context=True,
            assignment=assignment,
            status=Status.OPTIMAL.value,
            batch=options.batch,
            objective_s=options.batch / fps,
            bound_s=options.batch / fps,
            bound_contexts=1,
            wall_seconds=time.perf_counter() - started,
            iterations=(),
            interrupted=False,
            single_fit=single,
        )
    if single.fits:
        log("Context switch is enabled: using the multi-context flow")
    else:
        log(
            "Single context flow failed: Recoverable single context error - "
            f"Resources presolve failed: {format_over(single.over)}"
        )
        if single.both_classes:
            log(
                "One context may pass the single-context caps on nodes (LCUs, APUs, IAs) or "
                "on L3 memory, not on both (ctxfit's rule of one raised class)"
            )
    log("Using Multi-context flow")
    log(
        "Resources optimization guidelines: Strategy -> CP-SAT Objective -> "
        f"MAX_FPS (batch {options.batch})"
    )
    log(caps_line(options.multi_caps))
    problem = build_problem(net, hw, options.multi_caps, batch=options.batch)
    log("Finding the best partition to contexts...")
    return _multi_context(problem, options, single, started, log, progress)


def improvement_cutoff(best_units: int) -> int:
    """The slowest batch time that still counts as an improvement on ``best_units``: faster by
    more than :data:`IMPROVEMENT_EPS` (the iterations after the first look only below it)."""
    return math.ceil(best_units * (1 - IMPROVEMENT_EPS)) - 1


def _wall_deadline(options: SearchOptions, started: float) -> float:
    """The ``time.perf_counter()`` at which every solve is stopped: ``(1 -``
    :data:`WALL_RESERVE_FRACTION` ``) x timeout`` after the search started with
    ``options.wall_clock``, else ``WALL_SAFETY_FACTOR x timeout``."""
    if not options.wall_clock:
        return started + WALL_SAFETY_FACTOR * options.timeout_s
    return started + (1 - WALL_RESERVE_FRACTION) * options.timeout_s


def _out_of_time(
    options: SearchOptions, spent: float, deadline: float, setup_s: float = 0.0
) -> StopReason | None:
    """The clock with less than :data:`MIN_ITERATION_S` left, if one has: the wall clock (up to
    ``deadline``, less ``setup_s``, the expected time to build the next model, which no stop
    interrupts) or the deterministic budget (``timeout_s`` less the solver work ``spent``)."""
    if deadline - time.perf_counter() < MIN_ITERATION_S + setup_s:
        return StopReason.WALL_CLOCK
    if options.timeout_s - spent < MIN_ITERATION_S:
        return StopReason.BUDGET
    return None


def resource_lower_bound(problem: PartitionProblem) -> tuple[int, str, int, int]:
    """Fewest contexts the level-0 demands allow: ``(k0, resource, total demand, limit)``.

    Every layer needs at least its level-0 demand wherever it goes, so K contexts hold at most
    ``K x limit`` of each resource.
    """
    best = (1, problem.resource_names[0], 0, problem.limits[0])
    for r, name in enumerate(problem.resource_names):
        total = sum(d[r] for d in problem.demand[0] if d is not None)
        k = math.ceil(total / problem.limits[r]) if problem.limits[r] else 1
        if k > best[0]:
            best = (k, name, total, problem.limits[r])
    return best


class CtrlC:
    """Ctrl-C during the multi-context search: stop the running solve and keep the best so far.

    While active (a ``with`` block in the main thread, where Python delivers SIGINT, and only
    when SIGINT raises ``KeyboardInterrupt`` there), the first Ctrl-C sets :attr:`pressed` and
    calls :attr:`on_press` (the running model's ``stop``) instead of raising wherever the main
    thread happens to be (building a model, logging); a second Ctrl-C raises
    ``KeyboardInterrupt``. Elsewhere it does nothing and Ctrl-C raises as usual.
    """

    def __init__(self, external: threading.Event | None = None) -> None:
        self._pressed = False
        self.external = external
        self.on_press: Callable[[], None] | None = None
        self._previous: object = None

    @property
    def pressed(self) -> bool:
        """Ctrl-C was pressed, or the caller's stop event (``SearchOptions.stop``) is set."""
        return self._pressed or (self.external is not None and self.external.is_set())

    def __enter__(self) -> CtrlC:
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]
            self._previous = None

    def _handle(self, signum: int, frame: object) -> None:
        if self._pressed:
            raise KeyboardInterrupt
        self._pressed = True
        if self.on_press is not None:
            self.on_press()


def _multi_context(
    problem: PartitionProblem,
    options: SearchOptions,
    single: ContextFit,
    started: float,
    log: Log,
    progress: OnProgress | None = None,
) -> SearchResult:
    with CtrlC(options.stop) as ctrl_c:
        return _iterate(problem, options, single, started, log, progress, ctrl_c)


def _iterate(
    problem: PartitionProblem,
    options: SearchOptions,
    single: ContextFit,
    started: float,
    log: Log,
    progress: OnProgress | None,
    ctrl_c: CtrlC,
) -> SearchResult:
    k0, resource, total, limit = resource_lower_bound(problem)
    fewest = max(2, options.min_contexts)
    first_k = max(k0, fewest, max(options.pins.values(), default=0) + 1)
    iterations: list[Iteration] = []
    label = COMPILER_LABELS.get(resource, resource)
    for k in range(fewest, min(first_k, options.max_contexts + 1)):
        message = f"Too many {label} ({total} > {k} x {limit})"
        iterations.append(
            _record(len(iterations), k, "too many", message, None, None, None, None, 0.0)
        )
        log(f"Iteration #{len(iterations)} - {k} contexts, {message}")

    best: PartitionResult | None = None
    bound_result: PartitionResult | None = None
    history: list[Progress] = []

    def emit(snapshot: Progress) -> None:
        history.append(snapshot)
        if progress is not None:
            progress(snapshot)

    # the baselines and the bound over every count come first, as iteration #n at K = k0: when
    # the DP split meets that bound it is the answer, recorded as that iteration at its K
    emit(
        Progress(
            elapsed_s=time.perf_counter() - started,
            num_contexts=first_k,
            iteration=len(iterations) + 1,
        )
    )
    baseline_started = time.perf_counter()
    splits = _baselines(problem, options)
    baseline_s = time.perf_counter() - baseline_started if options.wall_clock else 0.0
    deadline = _wall_deadline(options, started)
    split = _dp_split(splits, first_k)
    dp_units = None if split is None else batch_time_units(problem, split)
    found = _relaxation_bound(problem, first_k, dp_units, options, deadline, log, baseline_s)
    relaxed = None if found is None else found.bound_units
    counts = None if found is None else found.by_count
    relaxed, counts = _whole_contexts(
        problem, relaxed, counts, first_k, dp_units, options, deadline, log
    )

    stale = 0
    interrupted = False
    spent = 0.0  # solver work charged to the budget (deterministic, see _out_of_time)
    build_per_k = 0.0  # wall seconds the last model took to build, per context of its K
    tried = [it.num_contexts for it in iterations]
    reason = StopReason.ALL_CONTEXTS  # unless the loop stops earlier
    best = _dp_meeting(problem, relaxed, splits, first_k, log)
    if best is not None:
        reason = StopReason.PROVEN  # no iteration can improve on it
        _record_dp(problem, best, relaxed, iterations, started, emit, log)
        tried.append(best.num_contexts)
    last_k = min(options.max_contexts, problem.num_layers)
    k = first_k if best is None else last_k + 1  # the DP split met the bound: nothing to try
    while k <= last_k:
        if ctrl_c.pressed:
            interrupted, reason = True, StopReason.CTRL_C
            log("Interrupted: keeping the best partition so far")
            break
        late = _out_of_time(options, spent, deadline, build_per_k * k)
        if late is not None and (best is not None or iterations):
            # without a best, the greedy and DP splits after the loop still give one if any
            # contiguous split fits; more iterations would overrun the budget (a tight budget
            # on a many-context problem ran 60 s past a 2 s timeout)
            reason = late
            log(f"Global timeout of {options.timeout_s:g}s reached ({late.value})")
            break
        remaining = options.timeout_s - spent
        limit_s = max(MIN_ITERATION_S, min(options.per_iteration_s, remaining))
        cutoff = None if best is None else improvement_cutoff(best.objective_units)
        building = time.perf_counter()
        model = PartitionModel(
            problem,
            num_contexts=k,
            pins=options.pins,
            hint=None if best is None else best.partition,
            cutoff_units=cutoff,
            min_contexts=fewest,
        )
        build_per_k = (time.perf_counter() - building) / k
        best_fps_now = best.fps if best is not None else None
        iteration_no = len(iterations) + 1
        emit(
            Progress(
                elapsed_s=time.perf_counter() - started,
                num_contexts=k,
                iteration=iteration_no,
                best_fps=best_fps_now,
            )
        )

        met = threading.Event()  # a solution within IMPROVEMENT_EPS of the bound over every count

        def on_solution(
            event: SolutionEvent,
            k: int = k,
            n: int = iteration_no,
            before: float | None = best_fps_now,
            met: threading.Event = met,
            relaxed: int | None = relaxed,
        ) -> None:
            if relaxed is not None and relaxed > improvement_cutoff(event.objective_units):
                met.set()
            fps = problem.batch / (event.objective_units * problem.TIME_UNIT_S)
            bound = (
                problem.batch / (event.bound_units * problem.TIME_UNIT_S)
                if event.bound_units > 0
                else None
            )
            best_known = max(fps, before or 0.0)
            emit(
                Progress(
                    elapsed_s=time.perf_counter() - started,
                    num_contexts=k,
                    iteration=n,
                    fps=fps,
                    best_fps=best_known,
                    bound_fps=bound,
                    gap=max(0.0, 1 - event.bound_units / event.objective_units),
                )
            )

        ctrl_c.on_press = model.stop
        if ctrl_c.pressed:
            model.stop()  # pressed while the model was built: return at its first solution
        result, interrupted, walled = _solve_interruptibly(
            model, limit_s, options, deadline, on_solution, met
        )
        interrupted = interrupted or ctrl_c.pressed
        spent += result.work_seconds
        tried.append(k)
        outcome, message = _outcome(result, limit_s, interrupted)
        if result.partition is not None and (
            best is None or result.objective_units < best.objective_units
        ):
            improved = best is None or result.objective_units < best.objective_units * (
                1 - IMPROVEMENT_EPS
            )
            if best is None:
                log(f"Found valid partition to {result.partition.num_contexts} contexts")
            elif improved:
                gain = best.objective_units / result.objective_units - 1
                log(
                    f"Found valid partition to {result.partition.num_contexts} contexts, "
                    f"Performance improved by {gain:.1%}"
                )
            stale = 0 if improved else stale + 1
            best = result
        elif result.partition is not None:
            stale += 1
            outcome = "no better"
        else:
            stale += 1 if best is not None else 0
        if result.bound_units is not None:
            bound_result = result
        best_fps = best.fps if best is not None else None
        used = result.partition.num_contexts if result.partition is not None else None
        iterations.append(
            _record(
                len(iterations),
                k,
                outcome,
                message,
                result.fps,
                best_fps,
                used,
                None if result.bound_units is None else result.bound_units * problem.TIME_UNIT_S,
                result.wall_seconds,
            )
        )
        fps_text = f"FPS {result.fps:,.1f} (best: {best_fps:,.1f})" if result.fps else message
        suffix = f", uses {used}" if used is not None and used < k else ""
        log(f"Iteration #{len(iterations)} - {k} contexts{suffix}, {fps_text}")
        relaxed = _every_count(problem, relaxed, result, counts, log)
        if interrupted:
            reason = StopReason.CTRL_C
            log("Interrupted: keeping the best partition so far")
            break
        if result.status is Status.OPTIMAL and used is not None and used < k:
            reason = StopReason.PROVEN  # the optimum for <= K leaves contexts unused
            break
        if cutoff is not None and result.bound_units is not None and result.bound_units > cutoff:
            reason = StopReason.PROVEN  # no partition into <= K contexts improves on the best
            break
        if _within_relaxation(best, relaxed):
            reason = StopReason.PROVEN  # no count of contexts does better (any_count_bound)
            break
        if walled:
            reason = StopReason.WALL_CLOCK
            log(f"Global timeout of {options.timeout_s:g}s reached ({reason.value})")
            break
        if best is not None and stale >= PATIENCE:
            reason = StopReason.NO_IMPROVEMENT
            break
        if result.status is Status.INFEASIBLE and best is None and k >= problem.num_layers:
            break
        k += 1

    if not _within_relaxation(best, relaxed):
        best = _no_worse_than_baselines(problem, best, splits, options, log)
    interrupted = interrupted or ctrl_c.pressed
    if interrupted:
        reason = StopReason.CTRL_C
    k_best = best.partition.num_contexts if best is not None and best.partition else 0
    late = _out_of_time(options, spent, deadline, build_per_k * k_best)
    if (
        best is not None
        and best.from_hint
        and best.partition is not None
        and (bound_result is None or bound_result.num_contexts < best.partition.num_contexts)
        and not _within_relaxation(best, relaxed)
        and late is None
        and not interrupted
    ):
        # a baseline with more contexts than any bound covers won: one CP-SAT iteration at its
        # K, hinted with it, to improve on it and to prove a bound that covers it
        k = best.partition.num_contexts
        model = PartitionModel(
            problem,
            num_contexts=k,
            hint=best.partition,
            cutoff_units=improvement_cutoff(best.objective_units),
        )
        ctrl_c.on_press = model.stop
        result, interrupted, walled = _solve_interruptibly(
            model, options.timeout_s - spent, options, deadline
        )
        interrupted = interrupted or ctrl_c.pressed
        tried.append(k)
        if interrupted or walled:
            reason = StopReason.CTRL_C if interrupted else StopReason.WALL_CLOCK
        if result.partition is not None and result.objective_units <= best.objective_units:
            best = result
        if result.bound_units is not None:
            bound_result = result
        used = best.partition.num_contexts if best.partition is not None else None
        iterations.append(
            _record(
                len(iterations),
                k,
                "found",
                "found",
                best.fps,
                best.fps,
                used,
                None if result.bound_units is None else result.bound_units * problem.TIME_UNIT_S,
                result.wall_seconds,
            )
        )
        fps = best.fps or 0.0
        log(f"Iteration #{len(iterations)} - {k} contexts, FPS {fps:,.1f} (best: {fps:,.1f})")
        relaxed = _every_count(problem, relaxed, result, counts, log)
    wall = time.perf_counter() - started
    log(
        f"Partitioner finished after {len(iterations)} iterations, "
        f"Time it took: {fmt_duration(wall)}"
    )
    log(f"Search stopped by {reason.value}; K tried {k_ranges(tried)}")
    if best is None or best.partition is None:
        if interrupted:
            raise KeyboardInterrupt
        if reason.by_time or any(it.outcome == "timeout" for it in iterations):
            raise InfeasiblePartitionError(
                f"no partition found within the timeout of {options.timeout_s:g}s "
                f"(tried {first_k}..{k} contexts); raise --timeout or the caps"
            )
        raise InfeasiblePartitionError(
            f"no partition into at most {min(options.max_contexts, k)} contexts meets the caps "
            f"({caps_line(options.multi_caps).split(': ', 1)[1]}); raise the caps, lower "
            "precision of the largest layers, or remove pins"
        )
    assignment = best.partition.assignment
    log(f"Applying selected partition to {best.partition.num_contexts} contexts...")
    if bound_result is not None and bound_result.num_contexts < best.partition.num_contexts:
        bound_result = None  # its bound covers fewer contexts than the partition reported
    bound_units = None if bound_result is None else bound_result.bound_units
    all_counts = relaxed is not None and (bound_units is None or relaxed >= bound_units)
    if all_counts:
        assert relaxed is not None
        bound_units = min(relaxed, best.objective_units)
    # optimal only when a bound that covers every count tried is within IMPROVEMENT_EPS of the
    # objective (an optimum proven for K says nothing of K + 1 if that iteration stopped early)
    # and either it covers every count or the search ended by its own rule (stopped by time,
    # the counts above the last K tried were never looked at); the gap gives the exact figure
    proven = (
        bound_units is not None
        and bound_units > improvement_cutoff(best.objective_units)
        and (all_counts or not reason.by_time)
    )
    return SearchResult(
        single_context=False,
        assignment=assignment,
        status=Status.OPTIMAL.value if proven else Status.FEASIBLE.value,
        batch=options.batch,
        objective_s=best.objective_units * problem.TIME_UNIT_S,
        bound_s=None if bound_units is None else bound_units * problem.TIME_UNIT_S,
        bound_contexts=None if bound_result is None or all_counts else bound_result.num_contexts,
        bound_all_contexts=all_counts,
        wall_seconds=wall,
        iterations=tuple(iterations),
        interrupted=interrupted,
        single_fit=single,
        problem=problem,
        result=best,
        history=tuple(history),
        stop_reason=reason,
        contexts_tried=tuple(sorted(set(tried))),
        pinned_layers=len(options.pins),
    )


Splits = tuple[tuple[str, Partition | None], ...]
"""The greedy and DP splits of a search, by name (computed once, :func:`_baselines`)."""


def _baselines(problem: PartitionProblem, options: SearchOptions) -> Splits:
    """The greedy split and the DP split into at most ``max_contexts`` contexts, once per
    search; none with pins (the baselines do not honour them)."""
    if options.pins:
        return ()
    dp = dp_split(problem)  # any count: much cheaper than with a cap of K rows
    if dp is not None and dp.num_contexts > options.max_contexts:
        dp = dp_split(problem, max_contexts=options.max_contexts)
    return (("greedy", greedy_split(problem)), ("DP", dp))


def _dp_split(splits: Splits, fewest: int) -> Partition | None:
    """The DP split, when it has at least ``fewest`` contexts."""
    split = dict(splits).get("DP")
    return split if split is not None and split.num_contexts >= fewest else None


def _relaxation_bound(
    problem: PartitionProblem,
    min_contexts: int,
    upper: int | None,
    options: SearchOptions,
    deadline: float,
    log: Log,
    baseline_s: float = 0.0,
) -> AnyCountBound | None:
    """The bound over every partition into ``min_contexts`` or more contexts (fewer are ruled
    out by the total demand), whatever their number (:func:`~partitioner.bounds.any_count_bound`),
    in time units, with the level relaxation's bounds for more contexts (up to ``upper``, the DP
    split's ``T(B)``, for at most :data:`COUNT_BOUNDS_FRACTION` of the budget); the level
    relaxation is skipped when the path bound already proves the DP split, or with less than
    30% of the wall budget left (the path bound: 15%), or with less left than
    :data:`BOUND_COST_FACTORS` times ``baseline_s`` (the wall time the baselines took; 0
    without the wall clock), so that a short budget goes to the iterations (under load both
    take seconds on YOLO11x)."""
    enough = None if upper is None else improvement_cutoff(upper) + 1
    left = deadline - time.perf_counter()
    found = any_count_bound(
        problem,
        min_contexts=min_contexts,
        enough_units=enough,
        with_path=left > max(0.15 * options.timeout_s, BOUND_COST_FACTORS[0] * baseline_s),
        with_level=left > max(0.3 * options.timeout_s, BOUND_COST_FACTORS[1] * baseline_s),
        upper_units=upper,
        more_s=COUNT_BOUNDS_FRACTION * options.timeout_s,
    )
    if found is None:
        return None
    fps = problem.batch / (max(1, found.bound_units) * problem.TIME_UNIT_S)
    log(f"Bound over any number of contexts: at most {fps:,.1f} FPS")
    return found


def _every_count(
    problem: PartitionProblem,
    relaxed: int | None,
    result: PartitionResult,
    counts: CountBounds | None,
    log: Log,
) -> int | None:
    """The bound over every count of contexts, raised by an iteration's bound: CP-SAT's bound
    covers the partitions into at most its K contexts, the level relaxation's
    (:func:`~partitioner.bounds.count_bounds`) those into K + 1 or more, so the lower of the
    two covers them all (the search's fewest contexts and pins bound both alike)."""
    if result.bound_units is None or counts is None:
        return relaxed
    more = counts.at_least(result.num_contexts + 1)
    if more is None:
        return relaxed
    joined = min(result.bound_units, more)
    if relaxed is not None and joined <= relaxed:
        return relaxed
    fps = problem.batch / (max(1, joined) * problem.TIME_UNIT_S)
    log(
        f"Bound over any number of contexts: at most {fps:,.1f} FPS (up to "
        f"{result.num_contexts} contexts by CP-SAT, more by the level relaxation)"
    )
    return joined


def _whole_contexts(
    problem: PartitionProblem,
    relaxed: int | None,
    counts: CountBounds | None,
    first_k: int,
    upper: int | None,
    options: SearchOptions,
    deadline: float,
    log: Log,
) -> tuple[int | None, CountBounds | None]:
    """The bound over every count of contexts and the bounds per count, raised by the
    set-partitioning relaxation (:func:`~partitioner.column_bound.column_bound`: whole convex
    contexts, where the level relaxation mixes fractions of contexts). Computed when the level
    relaxation does not already prove the DP split (``upper``: its ``T(B)``), with
    :data:`COLUMN_BOUND_FRACTION` of the budget as its limit and at least twice that left on the
    wall clock, on at most :data:`COLUMN_BOUND_MAX_CELLS` (layer, level) pairs."""
    if upper is None or problem.num_layers * problem.num_levels > COLUMN_BOUND_MAX_CELLS:
        return relaxed, counts
    if relaxed is not None and relaxed > improvement_cutoff(upper):
        return relaxed, counts  # the DP split is proven already
    allowed = COLUMN_BOUND_FRACTION * options.timeout_s
    if deadline - time.perf_counter() < 2 * allowed:
        return relaxed, counts
    found = column_bound(
        problem,
        first=max(2, first_k),
        enough_units=improvement_cutoff(upper) + 1,
        time_limit_s=allowed,
        more_s=COUNT_BOUNDS_FRACTION * options.timeout_s,
    )
    if found is None:
        return relaxed, counts
    joined = _max_counts(counts, found.by_count)
    raised = joined.at_least(max(2, first_k))  # fewer contexts are ruled out already
    if raised is None or (relaxed is not None and raised <= relaxed):
        return relaxed, joined
    fps = problem.batch / (max(1, raised) * problem.TIME_UNIT_S)
    log(
        f"Bound over any number of contexts: at most {fps:,.1f} FPS (whole contexts, "
        f"{found.seconds:.1f} s)"
    )
    return raised, joined


def _max_counts(a: CountBounds | None, b: CountBounds) -> CountBounds:
    """Bounds per count of contexts that hold whenever either does: the higher of the two at
    each count both cover, either's where only one does (from the lower first count on)."""
    if a is None:
        return b
    first = min(a.first, b.first)
    last = max(a.first + len(a.units), b.first + len(b.units))
    units = []
    for k in range(first, last):
        values = [v for v in (a.at_least(k), b.at_least(k)) if v is not None]
        units.append(max(values + [units[-1]] if units else values))
    return CountBounds(first=first, units=tuple(units), num_layers=a.num_layers)


def _dp_meeting(
    problem: PartitionProblem, relaxed: int | None, splits: Splits, first_k: int, log: Log
) -> PartitionResult | None:
    """The DP split when it is within IMPROVEMENT_EPS of the bound over every count (then no
    iteration can improve on it: the search ends with it), else ``None``."""
    split = _dp_split(splits, first_k)
    if relaxed is None or split is None:
        return None
    units = batch_time_units(problem, split)
    if relaxed <= improvement_cutoff(units):
        return None
    log(
        f"Found valid partition to {split.num_contexts} contexts (the DP split, within "
        f"{IMPROVEMENT_EPS:.1%} of the bound over any number of contexts: no iteration needed)"
    )
    return _split_result(problem, split, units)


def _record_dp(
    problem: PartitionProblem,
    best: PartitionResult,
    relaxed: int | None,
    iterations: list[Iteration],
    started: float,
    emit: OnProgress,
    log: Log,
) -> None:
    """The DP split that met the bound over every count, as the search's one iteration: its
    record, its snapshot (for the live line and the solver history) and its log line."""
    assert best.partition is not None and best.objective_units is not None
    k, fps = best.partition.num_contexts, best.fps or 0.0
    bound = None if relaxed is None else min(relaxed, best.objective_units)
    bound_s = None if bound is None else bound * problem.TIME_UNIT_S
    emit(
        Progress(
            elapsed_s=time.perf_counter() - started,
            num_contexts=k,
            iteration=len(iterations) + 1,
            fps=fps,
            best_fps=fps,
            bound_fps=None if not bound_s else problem.batch / bound_s,
            gap=None if bound is None else max(0.0, 1 - bound / best.objective_units),
        )
    )
    iterations.append(_record(len(iterations), k, "found", "found", fps, fps, k, bound_s, 0.0))
    log(f"Iteration #{len(iterations)} - {k} contexts, FPS {fps:,.1f} (best: {fps:,.1f})")


def _within_relaxation(best: PartitionResult | None, relaxed: int | None) -> bool:
    """The best so far is within IMPROVEMENT_EPS of the bound over every count of contexts."""
    if best is None or best.objective_units is None or relaxed is None:
        return False
    return relaxed > improvement_cutoff(best.objective_units)


def _no_worse_than_baselines(
    problem: PartitionProblem,
    best: PartitionResult | None,
    splits: Splits,
    options: SearchOptions,
    log: Log,
) -> PartitionResult | None:
    """The better of ``best`` and the greedy and DP splits over any number of contexts: a split
    replaces ``best`` when it is faster by more than :data:`IMPROVEMENT_EPS`, the rule every new
    best of the iterations follows (a split into many more contexts that is faster by 0.01% is
    no improvement the search could tell from noise in the cost model).

    The iterations stop when more contexts stop helping; a contiguous split into more contexts
    than were tried can still be faster, and ctxfit never reports worse than its baselines.
    Pinned layers are honoured by the solver only, so baselines are skipped then.
    """
    for name, partition in splits:
        if partition is None or partition.num_contexts < max(2, options.min_contexts):
            continue
        units = batch_time_units(problem, partition)
        if (
            best is None
            or best.objective_units is None
            or units <= improvement_cutoff(best.objective_units)
        ):
            log(
                f"Found valid partition to {partition.num_contexts} contexts "
                f"(the {name} split, faster than the iterations)"
            )
            best = _split_result(problem, partition, units)
    return best


def _split_result(problem: PartitionProblem, split: Partition, units: int) -> PartitionResult:
    """A baseline split (greedy or DP) as the search's answer: feasible, no bound of its own."""
    return PartitionResult(
        status=Status.FEASIBLE,
        partition=split,
        objective_units=units,
        bound_units=None,
        wall_seconds=0.0,
        num_contexts=split.num_contexts,
        batch=problem.batch,
        from_hint=True,
    )


def _record(
    index: int,
    k: int,
    outcome: str,
    message: str,
    fps: float | None,
    best_fps: float | None,
    used: int | None,
    bound_s: float | None,
    wall: float,
) -> Iteration:
    return Iteration(
        index=index + 1,
        num_contexts=k,
        outcome=outcome,
        message=message,
        fps=fps,
        best_fps=best_fps,
        contexts_used=used,
        bound_s=bound_s,
        wall_seconds=wall,
    )


def _outcome(result: PartitionResult, limit_s: float, interrupted: bool) -> tuple[str, str]:
    if result.partition is not None:
        return "found", "found"
    if interrupted:
        return "interrupted", "Interrupted"
    if result.status is Status.INFEASIBLE:
        return "infeasible", "Infeasible"
    return "timeout", f"Timeout after {round(limit_s, 1):g}s"


def _solve_interruptibly(
    model: PartitionModel,
    limit_s: float,
    options: SearchOptions,
    deadline: float,
    on_solution: Callable[[SolutionEvent], None] | None = None,
    enough: threading.Event | None = None,
) -> tuple[PartitionResult, bool, bool]:
    """Solve in a worker thread so that Ctrl-C (or ``options.stop``) and the wall clock stop the
    search and keep its best solution: ``(result, stopped by Ctrl-C, stopped by the wall clock
    at deadline)``.
    The solve is also stopped, keeping its bounds, once ``enough`` is set (a solution that meets
    the bound over every count of contexts)."""
    box: dict[str, PartitionResult | BaseException] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["result"] = model.solve(
                time_limit_s=limit_s,
                workers=options.workers,
                seed=options.seed,
                on_solution=on_solution,
            )
        except BaseException as err:  # re-raised in the caller's thread
            box["error"] = err
        finally:
            done.set()

    thread = threading.Thread(target=run, name="ctxfit-cpsat", daemon=True)
    thread.start()
    interrupted = walled = False
    # wait on an Event, not Thread.join: a Ctrl-C inside join can leave the thread looking dead
    while not done.is_set():
        try:
            done.wait(min(0.1, max(0.005, deadline - time.perf_counter())))
        except KeyboardInterrupt:
            interrupted = True
            model.stop()
        if not done.is_set() and options.stop is not None and options.stop.is_set():
            interrupted = True  # the caller's stop (explain's Ctrl-C), as Ctrl-C
            model.stop()
        if not done.is_set() and enough is not None and enough.is_set():
            stop_keeping_bounds(model)
        if not done.is_set() and time.perf_counter() >= deadline:
            # again at every poll: a solver that starts after the first stop is stopped too;
            # the LP solve's bound is kept, as when the budget ends the solve
            walled = True
            stop_keeping_bounds(model)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"], interrupted, walled  # type: ignore[return-value]
