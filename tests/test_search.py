"""The search driver and compile flow: the compiler's log lines, failures, determinism,
model-script round trip, and random DAGs through the validator in the code path."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cost_model.caps import ResourceCaps
from cost_model.hardware import preset
from cost_model.layer import Layer, OpKind
from partitioner.compile import compile_network
from partitioner.errors import InfeasiblePartitionError, UsageError
from partitioner.graph import Network
from partitioner.model_script import emit_partition_script, parse_model_script
from partitioner.problem import TIME_UNIT_S
from partitioner.search import (
    IMPROVEMENT_EPS,
    SearchOptions,
    fmt_duration,
    improvement_cutoff,
    resource_lower_bound,
    search,
)
from partitioner.validator import validate_partition
from tests.nets import SCENARIO_HW_PARAMS, conv_chain, dense_chain

HW = preset("hailo8")


@pytest.fixture
def iterations_only(monkeypatch):
    """No bound over every count of contexts (neither the level relaxation's nor the whole
    contexts'): conv_chain is a single path, whose DP split meets that bound and ends the search
    before any iteration; these tests are about the iterations."""
    from partitioner import search as search_module

    monkeypatch.setattr(search_module, "any_count_bound", lambda problem, **_: None)
    monkeypatch.setattr(
        search_module, "_whole_contexts", lambda p, relaxed, counts, *_: (relaxed, counts)
    )


def run(net, **options):
    lines: list[str] = []
    report = compile_network(net, HW, SearchOptions(**options), log=lines.append)
    return report, lines


def test_single_context_network_is_batch_independent():
    report, lines = run(conv_chain(20), timeout_s=2)
    assert report.single_context and report.num_contexts == 1
    assert lines[0] == "Trying to compile the network in a single context"
    assert report.fps[1] == pytest.approx(report.fps[8])
    assert report.search.gap == 0.0
    assert report.reload_bytes_per_batch == 0
    assert report.validation.valid


def test_multi_context_flow_prints_the_compiler_vocabulary(iterations_only):
    # 170 layers need at least 170 LCUs; the single-context cap is ceil(0.75 x 128) = 96 and the
    # multi-context cap ceil(0.60 x 128) = 77, so K >= ceil(170 / 77) = 3.
    report, lines = run(conv_chain(170), timeout_s=6)
    text = "\n".join(lines)
    assert "Single context flow failed: Recoverable single context error - " in text
    assert "LCUs: 170/96" in text
    assert "Using Multi-context flow" in text
    assert "max_control_utilization=60%" in text
    assert "Iteration #1 - 2 contexts, Too many LCUs (170 > 2 x 77)" in text
    assert "Found valid partition to 3 contexts" in text
    assert any(line.startswith("Iteration #2 - 3 contexts, FPS ") for line in lines)
    assert "Partitioner finished after" in text
    assert report.num_contexts >= 3
    assert not report.single_context
    # more frames per batch amortise the reload: FPS(8) > FPS(1)
    assert report.fps[8] > report.fps[1]
    assert report.validation.valid
    assert report.search.bound_s is not None and report.search.bound_s <= report.search.objective_s
    # every context respects the LCU cap, independently of the solver
    assert all(c.usage.lcus <= 77 for c in report.contexts)


def test_same_input_gives_the_same_partition():
    net = conv_chain(170)
    first = search(net, HW, SearchOptions(timeout_s=4))
    second = search(net, HW, SearchOptions(timeout_s=4))
    assert first.assignment == second.assignment
    assert first.objective_s == second.objective_s


def test_context_switch_disabled_gives_the_compiler_failure():
    with pytest.raises(InfeasiblePartitionError) as err:
        run(conv_chain(170), context_switch="disabled")
    message = str(err.value)
    assert message.startswith("Context switch is disabled, but model could not fit")
    assert "LCUs: 170/96" in message


def test_enabled_mode_splits_even_when_one_context_fits():
    report, lines = run(conv_chain(20), context_switch="enabled", timeout_s=3)
    assert not report.single_context
    assert "Context switch is enabled: using the multi-context flow" in lines


def test_a_layer_that_fits_no_context_is_named():
    # one dense layer of 60M 8-bit weights: more L3 than a whole context allows at 60%
    net = dense_chain(60_000_000, 1)
    with pytest.raises(InfeasiblePartitionError, match=r"layer 'fc0' needs \d+ L3 cuts"):
        run(net, context_switch="enabled", timeout_s=2)


def test_caps_no_partition_can_meet():
    # at a 0.1% cap, ceil(0.001 x 1024) = 2 L3 cuts per context: the 3 x 36928-byte weights of
    # 'a' alone take 4 cuts of 32 KiB, so no context holds it
    a = Layer(
        name="a",
        op=OpKind.CONV,
        inputs=("x",),
        input_shapes=((64, 160, 160),),
        output_shape=(64, 160, 160),
        kernel=(3, 3),
        params=3 * 36928,
        macs=64 * 160 * 160 * 64 * 9,
    )
    b = Layer(
        name="b",
        op=OpKind.ADD,
        inputs=("a", "a"),
        input_shapes=((64, 160, 160), (64, 160, 160)),
        output_shape=(64, 160, 160),
    )
    net = Network("tiny", [a, b], inputs={"x": (64, 160, 160)}, outputs=["b", "a"])
    caps = ResourceCaps.uniform(0.001)
    with pytest.raises(InfeasiblePartitionError):
        run(net, single_caps=caps, multi_caps=caps, timeout_s=2)


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="outside 1..63"):
        SearchOptions(batch=64)
    with pytest.raises(UsageError, match="not one of"):
        SearchOptions(context_switch="sometimes")


def test_emitted_script_reads_back_to_the_same_partition():
    net = conv_chain(170)
    report, _ = run(net, timeout_s=4)
    text = emit_partition_script([c.layers for c in report.contexts])
    pins = parse_model_script(text).resolve_pinned(net.topological_order())
    again, _ = run(net, timeout_s=4, pins=pins)
    assert [c.layers for c in again.contexts] == [c.layers for c in report.contexts]


def test_resource_lower_bound_counts_level_zero_demand():
    from cost_model.caps import MULTI_CONTEXT_CAPS
    from partitioner.pricing import build_problem

    problem = build_problem(conv_chain(170), HW, MULTI_CONTEXT_CAPS, batch=8)
    k0, resource, total, limit = resource_lower_bound(problem)
    assert (k0, resource, total, limit) == (3, "lcus", 170, 77)


def test_fmt_duration():
    assert fmt_duration(2725.0) == "45m 25s 0ms"


def random_dag(seed: int, n: int) -> Network:
    """A random DAG of convs, adds and concats with skip connections, like YOLO's necks."""
    rng = random.Random(seed)
    c, hw = 16, 40
    layers = [conv_layer("l0", ["x"], c, hw)]
    for i in range(1, n):
        earlier = [f"l{j}" for j in range(max(0, i - 30), i)]
        kind = rng.random()
        if kind < 0.7 or i < 3:
            layers.append(conv_layer(f"l{i}", [f"l{i - 1}"], c, hw))
        else:
            srcs = sorted({f"l{i - 1}", rng.choice(earlier)})
            if len(srcs) == 1:
                layers.append(conv_layer(f"l{i}", srcs, c, hw))
            else:
                layers.append(
                    Layer(
                        name=f"l{i}",
                        op=OpKind.ADD,
                        inputs=tuple(srcs),
                        input_shapes=tuple((c, hw, hw) for _ in srcs),
                        output_shape=(c, hw, hw),
                    )
                )
    return Network(f"dag{seed}", layers, inputs={"x": (c, hw, hw)}, outputs=[f"l{n - 1}"])


def conv_layer(name, srcs, c, hw):
    return Layer(
        name=name,
        op=OpKind.CONV,
        inputs=tuple(srcs),
        input_shapes=((c, hw, hw),),
        output_shape=(c, hw, hw),
        kernel=(3, 3),
        params=c * c * 9 + c,
        macs=c * hw * hw * c * 9,
        activation="silu",
    )


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(5, 200),
    batch=st.sampled_from([1, 8]),
    between=st.booleans(),
    out_row_us=st.sampled_from([0.0, 0.85, 4.0]),
)
def test_random_dags_give_valid_partitions(seed, n, batch, between, out_row_us):
    net = random_dag(seed, n)
    # both readings of the PCIe costs of tensors between contexts, and rows written out costing
    # less, as much or more than rows read: the solver's objective and the validator's FPS must
    # agree under each (compile_network checks the claimed FPS)
    hw = HW.with_params(
        pcie_overhead_between_contexts=between,
        pcie_row_overhead_s=0.85e-6,
        pcie_out_row_overhead_s=out_row_us * 1e-6,
    )
    report = compile_network(net, hw, SearchOptions(timeout_s=2, batch=batch))
    # compile_network already ran the validator; check once more from scratch
    caps = report.caps
    again = validate_partition(net, hw, caps, report.search.assignment, batch=batch)
    assert again.valid, again.errors
    assert sorted({c for c in report.search.assignment.values()}) == list(
        range(report.num_contexts)
    )


def test_no_solution_within_the_timeout_is_a_specific_failure(monkeypatch):
    from partitioner import cpsat_model
    from partitioner.problem import PartitionResult, Status

    def no_solution(self, *, time_limit_s, **_):
        return PartitionResult(
            status=Status.UNKNOWN,
            partition=None,
            objective_units=None,
            bound_units=None,
            wall_seconds=time_limit_s,
            num_contexts=self.k,
            batch=self.problem.batch,
            work_seconds=time_limit_s,  # a solve that ran to its limit
        )

    from partitioner import search as search_module

    monkeypatch.setattr(cpsat_model.PartitionModel, "solve", no_solution)
    monkeypatch.setattr(search_module, "greedy_split", lambda problem: None)
    monkeypatch.setattr(search_module, "dp_split", lambda problem, **_: None)
    lines: list[str] = []
    with pytest.raises(InfeasiblePartitionError, match="no partition found within the timeout"):
        search(conv_chain(170), HW, SearchOptions(timeout_s=20), log=lines.append)
    assert any(line.endswith("Timeout after 20s") for line in lines)


def test_ctrl_c_returns_the_best_partition_so_far(monkeypatch, iterations_only):
    import _thread
    import signal
    import threading

    from partitioner import cpsat_model

    solve = cpsat_model.PartitionModel.solve

    def slow_solve(self, **kwargs):
        # the real solve; then Ctrl-C arrives while this iteration still runs (as in a long
        # search), and the solve waits until the driver stops the model
        result = solve(self, **kwargs)
        if result.partition is not None:
            threading.Thread(target=_thread.interrupt_main).start()
        self._stop.wait(30)
        return result

    monkeypatch.setattr(cpsat_model.PartitionModel, "solve", slow_solve)
    # Python's own Ctrl-C handler, even when this run was started with SIGINT ignored (a
    # background job): interrupt_main does nothing for an ignored signal
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    lines: list[str] = []
    try:
        found = search(conv_chain(170), HW, SearchOptions(timeout_s=60), log=lines.append)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert found.interrupted
    assert "Interrupted: keeping the best partition so far" in lines
    assert found.num_contexts >= 3
    report = validate_partition(
        conv_chain(170), HW, SearchOptions().multi_caps, found.assignment, batch=8
    )
    assert report.valid, report.errors


def test_a_stop_event_from_another_thread_stops_the_search_as_ctrl_c_does(
    monkeypatch, iterations_only
):
    # explain's compiles run in a worker thread, where no SIGINT arrives: SearchOptions.stop,
    # set while an iteration runs, stops it and keeps the best partition so far
    import threading

    from partitioner import cpsat_model

    solve = cpsat_model.PartitionModel.solve
    stop = threading.Event()
    stopped: list[bool] = []

    def slow_solve(self, **kwargs):
        result = solve(self, **kwargs)
        if result.partition is not None:
            stop.set()
        stopped.append(self._stop.wait(30))  # True once the driver stops the model
        return result

    monkeypatch.setattr(cpsat_model.PartitionModel, "solve", slow_solve)
    options = SearchOptions(timeout_s=60, stop=stop)
    lines: list[str] = []
    found = search(conv_chain(170), HW, options, log=lines.append)
    assert found.interrupted and found.stop_reason.value == "Ctrl-C"
    assert stopped and all(stopped)  # the event stopped the running solve, not its 30 s wait
    assert "Interrupted: keeping the best partition so far" in lines
    report = validate_partition(conv_chain(170), HW, options.multi_caps, found.assignment, batch=8)
    assert report.valid, report.errors
    assert options == SearchOptions(timeout_s=60)  # the event is not part of the options' value


def test_optimal_only_when_the_bound_of_the_last_iteration_meets_the_objective(
    monkeypatch, iterations_only
):
    # the first multi-context iteration proves its optimum; the next one (more contexts) is
    # stopped before its proof: the answer is not proven over the counts tried
    from dataclasses import replace

    from partitioner import cpsat_model
    from partitioner.problem import Status

    solve = cpsat_model.PartitionModel.solve
    seen: list[int] = []

    def unproven_after_the_first(self, **kwargs):
        result = solve(self, **kwargs)
        seen.append(self.k)
        if len(seen) == 1 or result.partition is None:
            return result
        return replace(result, status=Status.FEASIBLE, bound_units=result.objective_units // 2)

    monkeypatch.setattr(cpsat_model.PartitionModel, "solve", unproven_after_the_first)
    found = search(conv_chain(170), HW, SearchOptions(timeout_s=20))
    assert len(seen) >= 2
    assert found.status == "FEASIBLE"
    assert found.gap == pytest.approx(0.5, abs=0.01)


def test_default_search_proves_the_optimum_over_the_counts_tried(iterations_only):
    found = search(conv_chain(170), HW, SearchOptions())
    # optimal within IMPROVEMENT_EPS: the last iteration proved that no partition into one more
    # context is faster by more than 0.1%, which bounds T(B) at improvement_cutoff(T) + 1
    objective_units = round(found.objective_s / TIME_UNIT_S)
    assert found.status == "OPTIMAL"
    assert found.bound_s == pytest.approx((improvement_cutoff(objective_units) + 1) * TIME_UNIT_S)
    assert 0 < found.gap <= IMPROVEMENT_EPS
    assert found.bound_contexts > found.num_contexts  # one more context was tried and refuted


def test_improvement_cutoff_is_the_slowest_time_that_counts_as_an_improvement():
    assert improvement_cutoff(1000) == 998  # 999 is exactly 0.1% faster: not "more than"
    assert improvement_cutoff(297005) == 296707  # 297005 x 0.999 = 296707.995
    for best in (1, 7, 1000, 297005, 10**9 + 7):
        cut = improvement_cutoff(best)
        assert cut < best * (1 - IMPROVEMENT_EPS) <= cut + 1


def test_each_iteration_starts_from_the_best_so_far_and_looks_below_it(
    monkeypatch, iterations_only
):
    from partitioner import cpsat_model
    from partitioner.problem import batch_time_units

    init = cpsat_model.PartitionModel.__init__
    starts: list[tuple[int | None, int | None]] = []

    def spy(self, problem, **kwargs):
        init(self, problem, **kwargs)
        hint = kwargs.get("hint")
        hint_units = None if hint is None else batch_time_units(problem, hint)
        starts.append((hint_units, kwargs.get("cutoff_units")))

    solve = cpsat_model.PartitionModel.solve
    bests: list[int] = []

    def record(self, **kwargs):
        result = solve(self, **kwargs)
        bests.append(result.objective_units)
        return result

    monkeypatch.setattr(cpsat_model.PartitionModel, "__init__", spy)
    monkeypatch.setattr(cpsat_model.PartitionModel, "solve", record)
    found = search(conv_chain(170), HW, SearchOptions())
    assert len(starts) >= 2 and starts[0] == (None, None)
    for (hint_units, cutoff), before in zip(starts[1:], bests, strict=False):
        assert hint_units == before  # the previous iteration's answer is the next one's start
        assert cutoff == improvement_cutoff(before)  # and it looks only for improvements on it
    # the last iteration found nothing under its cutoff: it kept the best and stopped the search
    assert bests[-1] == min(bests) == round(found.objective_s / TIME_UNIT_S)
    assert found.iterations[-1].outcome == "no better"


def test_the_wall_clock_stops_a_long_solve_and_says_so(monkeypatch, iterations_only):
    # every solve runs on until the search stops it (a loaded machine, seen from the search):
    # the wall clock at 95% of --timeout ends the first iteration, whose optimum for its K is
    # then no proof for the counts above it
    import threading

    from partitioner import cpsat_model
    from partitioner.search import StopReason

    solve = cpsat_model.PartitionModel.solve

    class Stuck:
        def __init__(self) -> None:
            self.stopped = threading.Event()

        def stop_search(self) -> None:
            self.stopped.set()

    def stuck_solve(self, **kwargs):
        result = solve(self, **kwargs)
        stuck = Stuck()
        self._solvers.append(stuck)
        assert stuck.stopped.wait(60), "the search never stopped the solve"
        return result

    monkeypatch.setattr(cpsat_model.PartitionModel, "solve", stuck_solve)
    lines: list[str] = []
    options = SearchOptions(timeout_s=2, wall_clock=True)
    found = search(conv_chain(170), HW, options, log=lines.append)
    assert found.stop_reason is StopReason.WALL_CLOCK
    assert found.status == "FEASIBLE"
    assert not found.interrupted
    assert len([it for it in found.iterations if it.outcome != "too many"]) == 1
    assert f"Search {found.stop_text}" in lines
    assert found.stop_text.startswith("stopped by wall clock; K tried 2..")
    assert found.contexts_tried == tuple(range(2, found.iterations[-1].num_contexts + 1))


def test_the_deterministic_budget_stops_the_search_and_says_so(monkeypatch, iterations_only):
    # each solve charges its whole limit to the budget and proves nothing: after the first
    # iteration's 10 s of solver work there is no budget left
    from dataclasses import replace

    from partitioner import cpsat_model
    from partitioner.search import StopReason

    solve = cpsat_model.PartitionModel.solve

    def unproven(self, *, time_limit_s, **kwargs):
        result = solve(self, time_limit_s=time_limit_s, **kwargs)
        bound = None if result.objective_units is None else result.objective_units // 2
        status = cpsat_model.Status.FEASIBLE if result.partition is not None else result.status
        return replace(result, status=status, bound_units=bound, work_seconds=time_limit_s)

    monkeypatch.setattr(cpsat_model.PartitionModel, "solve", unproven)
    lines: list[str] = []
    found = search(conv_chain(170), HW, SearchOptions(timeout_s=600), log=lines.append)
    assert found.stop_reason is StopReason.BUDGET
    assert found.status == "FEASIBLE"
    assert "Global timeout of 600s reached (deterministic budget)" in lines
    assert found.stop_text.startswith("stopped by deterministic budget; K tried ")


def test_never_optimal_when_stopped_by_time_with_contexts_untried(monkeypatch, iterations_only):
    # the first iteration proves its optimum for K (bound = objective); the budget then ends
    # the search before K + 1: the answer is FEASIBLE, with its bound over <= K contexts
    from dataclasses import replace

    from partitioner import cpsat_model
    from partitioner.search import StopReason

    solve = cpsat_model.PartitionModel.solve

    def proven_but_costly(self, *, time_limit_s, **kwargs):
        result = solve(self, time_limit_s=time_limit_s, **kwargs)
        return replace(result, work_seconds=time_limit_s)

    monkeypatch.setattr(cpsat_model.PartitionModel, "solve", proven_but_costly)
    hw = HW.with_params(**SCENARIO_HW_PARAMS)
    found = search(conv_chain(170), hw, SearchOptions(timeout_s=30))
    last = found.iterations[-1]
    assert found.stop_reason is StopReason.BUDGET
    assert last.bound_s == pytest.approx(found.objective_s)  # proven for its K ...
    assert found.status == "FEASIBLE"  # ... but K + 1 was never tried
    assert found.bound_contexts == last.num_contexts == max(found.contexts_tried)
    assert found.gap == 0.0


def test_a_bound_over_every_count_proves_the_answer_even_when_time_runs_out(monkeypatch):
    # the level relaxation's bound covers any number of contexts: when the best meets it, the
    # search stops (nothing to try) and the answer is optimal whatever the clock
    from partitioner import search as search_module
    from partitioner.bounds import AnyCountBound
    from partitioner.search import StopReason

    first = search(conv_chain(170), HW, SearchOptions(timeout_s=20))
    units = round(first.objective_s / TIME_UNIT_S)
    met = AnyCountBound(bound_units=units, level_units=units, path_units=None)
    monkeypatch.setattr(search_module, "any_count_bound", lambda problem, **_: met)
    found = search(conv_chain(170), HW, SearchOptions(timeout_s=20))
    assert found.stop_reason is StopReason.PROVEN
    assert found.status == "OPTIMAL"
    assert found.bound_all_contexts and found.bound_contexts is None
    assert found.bound_scope == "partitions into any number of contexts"
    assert found.gap <= IMPROVEMENT_EPS


def test_the_bound_over_every_count_never_exceeds_the_answer():
    from partitioner.bounds import any_count_bound

    found = search(conv_chain(170), HW, SearchOptions(timeout_s=20))
    relaxed = any_count_bound(found.problem, min_contexts=2)
    assert relaxed is not None and None not in (relaxed.level_units, relaxed.path_units)
    # conv_chain is a single path: the path bound is the DP's optimum, to a unit
    assert relaxed.path_units <= round(found.objective_s / TIME_UNIT_S) <= relaxed.path_units + 1
    assert found.bound_s is not None and found.bound_s <= found.objective_s


def test_a_single_path_is_answered_by_the_dp_split_without_a_solve(monkeypatch):
    # every layer of conv_chain reads the one before: every partition is a contiguous split,
    # the DP finds the optimum (to one unit) and the path bound proves it over any count
    from partitioner import cpsat_model

    def no_solve(self, **_):
        raise AssertionError("CP-SAT was run")

    monkeypatch.setattr(cpsat_model.PartitionModel, "solve", no_solve)
    lines: list[str] = []
    found = search(conv_chain(170), HW, SearchOptions(timeout_s=20), log=lines.append)
    units = round(found.objective_s / TIME_UNIT_S)
    assert found.status == "OPTIMAL" and found.bound_all_contexts
    assert units - 1 <= round(found.bound_s / TIME_UNIT_S) <= units
    (dp,) = [it for it in found.iterations if it.outcome != "too many"]
    assert dp.num_contexts == found.num_contexts and dp.fps == pytest.approx(8 / found.objective_s)
    assert any("(the DP split, within 0.1% of the bound" in line for line in lines)
    assert found.contexts_tried[-1] == found.num_contexts
