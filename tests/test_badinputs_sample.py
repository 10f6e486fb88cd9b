"""A sample of the bad-inputs corpus (``benchmarks/badinputs.py``, issue 15) in the test suite.

300 cases drawn from the model-script, hardware-file, command-line and output-path generators
(not ONNX: the importer has its own corpus test) run in-process through ``main(argv)``: no
traceback, exit 0 or 2, every rejection names the bad thing, no input changes, and each case
ends as its generator expects (rejected, accepted, or either).
"""

from __future__ import annotations

import random

from benchmarks.badinputs import (
    REJECT,
    all_cases,
    problems,
    run_case,
)

SAMPLE = 300


def test_a_sample_of_the_bad_inputs_corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    cases, _ = all_cases(tmp_path, seed=15, onnx=False)
    assert len(cases) >= 1000
    sample = random.Random(15).sample(cases, SAMPLE)
    assert {case.group for case in sample} == {"alls", "toml", "cli", "safety"}
    outcomes = [run_case(case) for case in sample]
    assert not [o for o in outcomes if o.traceback]
    assert {o.code for o in outcomes} <= {0, 2}
    bad = problems(outcomes)
    assert not bad, "\n".join(
        f"{o.case.group}/{o.case.kind} {o.case.argv}: exit {o.code} {o.error[:200]}" for o in bad
    )
    rejected = [o for o in outcomes if o.case.expect == REJECT]
    assert rejected and all(o.code == 2 for o in rejected)
