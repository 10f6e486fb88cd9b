"""A corpus of bad inputs run through the ``ctxfit`` command line (issue 15).

``python -m benchmarks.badinputs`` writes about 2,000 bad (and a few odd but valid) inputs into
a temporary directory — model scripts, hardware TOML files, command-line values, output paths
onto the inputs, and ONNX files — runs each through :func:`partitioner.cli.main` and writes the
counts into the ``Bad inputs`` section of ``benchmarks/RESULTS.md``:

- tracebacks (an exception escaping ``main``), hangs (a case not done after
  :data:`HANG_S` seconds), exit codes other than 0 and 2;
- rejections that do not name the bad thing (each case lists the fragments its error line must
  hold: the file and line of a script, the file and key of a TOML file, the flag of a command-line
  value, the output path of a refused target);
- inputs the user gave that changed (each case lists the files that must keep their bytes);
- bad inputs accepted (exit 0) where a rejection was expected, and the reverse.

The cases run in a worker process, in-process through ``main(argv)`` one after the other; the
parent kills and restarts the worker when a case passes :data:`HANG_S` (a hang) and counts it.

The ONNX files come from ``tests.bad_onnx_corpus.generate`` when that module exists (the ONNX
importer's own corpus); otherwise from the small set of :func:`onnx_cases`.

``tests/test_badinputs_sample.py`` runs a sample of the same generators (without ONNX) in the
test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import select
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTION = "Bad inputs"
HANG_S = 30.0
"""A case still running after this many seconds is a hang (the worker is killed)."""
REJECT, ACCEPT, EITHER = "reject", "accept", "either"
TIMEOUT = ("--timeout", "1")
CHAIN_LAYERS = tuple(f"conv{i}" for i in range(6))


@dataclass(frozen=True, kw_only=True)
class Case:
    """One run of ``ctxfit ARGV``.

    Attributes:
        group: ``alls``, ``toml``, ``cli``, ``safety`` or ``onnx``.
        kind: the class of bad input within the group (``cap_value``, ``nesting``, ...).
        argv: the command line after ``ctxfit``.
        expect: ``reject`` (exit 2), ``accept`` (exit 0) or ``either``.
        names: fragments the error line of a rejection must all hold.
        protect: files whose bytes must not change.
    """

    group: str
    kind: str
    argv: tuple[str, ...]
    expect: str = REJECT
    names: tuple[str, ...] = ()
    protect: tuple[str, ...] = ()


@dataclass(kw_only=True)
class Outcome:
    """What one case did."""

    case: Case
    code: int | None  # None: a traceback or a hang
    seconds: float
    error: str = ""  # the last line of stderr (the error line of a rejection)
    traceback: str = ""  # ``Type: message`` of an exception that escaped main
    hang: bool = False
    changed: list[str] = field(default_factory=list)

    @property
    def named(self) -> bool:
        """A rejection's error line holds every fragment the case names."""
        return all(fragment in self.error for fragment in self.case.names)


# -- the models the cases run on ------------------------------------------------------------------
def write_models(root: Path) -> dict[str, Path]:
    """A six-conv chain (one context, compiles in milliseconds), a hardware file, a script, a
    factory, and two compile results, all under ``root``; returns them by name."""
    from cost_model.layer import Layer, OpKind
    from partitioner.graph import Network

    layers, src, c_in = [], "images", 3
    for name in CHAIN_LAYERS:
        layers.append(
            Layer(
                name=name,
                op=OpKind.CONV,
                inputs=(src,),
                input_shapes=((c_in, 32, 32),),
                output_shape=(16, 32, 32),
                kernel=(3, 3),
                params=16 * c_in * 9 + 16,
                macs=16 * 32 * 32 * c_in * 9,
                activation="relu",
            )
        )
        src, c_in = name, 16
    root.mkdir(parents=True, exist_ok=True)
    chain = root / "chain.json"
    Network("chain", layers, inputs={"images": (3, 32, 32)}, outputs=[src]).save(chain)
    hw = root / "my_hw.toml"
    hw.write_text('base = "hailo8"\nname = "mine"\n')
    script = root / "script.alls"
    script.write_text("resources_param(max_utilization=0.8)\n")
    factory = root / "factory.py"
    factory.write_text((ROOT / "tests" / "data" / "factories.py").read_text())
    result_a, result_b = root / "a.json", root / "b.json"
    for result in (result_a, result_b):
        with _quiet():
            from partitioner.cli import main

            main(["compile", str(chain), "--json", str(result), "--timeout", "1"])
    return {
        "chain": chain,
        "hw": hw,
        "script": script,
        "factory": factory,
        "a": result_a,
        "b": result_b,
    }


@contextlib.contextmanager
def _quiet() -> Iterable[None]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


# -- model scripts ---------------------------------------------------------------------------------
CAP_KEYS = (
    "max_utilization",
    "max_control_utilization",
    "max_compute_utilization",
    "max_compute_16bit_utilization",
    "max_memory_utilization",
    "max_input_aligner_utilization",
    "max_apu_utilization",
)
CAP_VALUES: dict[str, str] = {
    "0": REJECT,
    "-1": REJECT,
    "1e9": REJECT,
    "nan": REJECT,
    "inf": REJECT,
    "-inf": REJECT,
    "2.0001": REJECT,
    "1.51": REJECT,
    "0.049": REJECT,
    "1e-9": REJECT,
    "0.001": REJECT,
    "200%": REJECT,
    "151%": REJECT,
    "4%": REJECT,
    "0x10": REJECT,
    "٠.٨": REJECT,
    "０.8": REJECT,
    "1_0": REJECT,
    "1e999": REJECT,
    "0.8.8": REJECT,
    "[0.5]": REJECT,
    '"0.5"': REJECT,
    "{a}": REJECT,
    "80%": ACCEPT,
    "0.8": ACCEPT,
    ".5": ACCEPT,
    "1.5": ACCEPT,
    "0.05": ACCEPT,
    "1.2": ACCEPT,
    "5%": ACCEPT,
}


def _script_case(
    directory: Path,
    model: Path,
    kind: str,
    text: str | bytes,
    expect: str,
    names: Sequence[str] = (),
    line: int | None = 1,
    extra: Sequence[str] = (),
) -> Case:
    """A script file holding ``text``; a rejection must name ``FILE:LINE`` (``FILE`` when
    ``line`` is None, nothing when it is 0) and ``names``."""
    index = len(list(directory.iterdir()))
    path = directory / f"{index:04d}_{kind}.alls"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    where = [f"{path}:{line}:"] if line else [str(path)] if line is None else []
    return Case(
        group="alls",
        kind=kind,
        argv=("compile", str(model), "--script", str(path), *TIMEOUT, *extra),
        expect=expect,
        names=(*where, *names),
        protect=(str(path),),
    )


def alls_cases(root: Path, models: dict[str, Path], rng: random.Random) -> list[Case]:
    """Model scripts of every class of the QA report's part 2, and more values per class."""
    d = root / "alls"
    d.mkdir(parents=True, exist_ok=True)
    m = models["chain"]
    cases: list[Case] = []

    def add(kind: str, text: str | bytes, expect: str, *names: str, line: int | None = 1) -> None:
        cases.append(_script_case(d, m, kind, text, expect, names, line))

    for key in CAP_KEYS:
        for value, expect in CAP_VALUES.items():
            if key == "max_utilization" and value == "0":
                expect = ACCEPT  # "not set"
            add("cap_value", f"resources_param({key}={value})\n", expect, key)
    for key, values in {
        "optimize_for_batch": {"0": REJECT, "-1": REJECT, "64": REJECT, "1e9": REJECT,
                               "nan": REJECT, "8.0": REJECT, "٣": REJECT, "9" * 5000: REJECT,
                               "[8]": REJECT, "8": ACCEPT, "63": ACCEPT, "1": ACCEPT},
        "fps": {"0": REJECT, "-5": REJECT, "nan": REJECT, "inf": REJECT, "1e999": REJECT,
                "1e8": REJECT, "abc": REJECT, "٣٠": REJECT, "30": ACCEPT, "0.5": ACCEPT},
        "compiler_optimization_level": {"3": REJECT, "-1": REJECT, "x": REJECT, "max": ACCEPT,
                                        "0": ACCEPT, "2": ACCEPT},
    }.items():  # fmt: skip
        for value, expect in values.items():
            add("performance_value", f"performance_param({key}={value})\n", expect, key)
    for value, expect in {
        "0": REJECT, "0s": REJECT, "-1": REJECT, "1e9": REJECT, "100000": REJECT,
        "25h": REJECT, "0.05": REJECT, "20x": REJECT, "٣m": REJECT, "nan": REJECT,
        "1h1h": REJECT, '"20m"': REJECT, "9" * 5000: REJECT, "1h30m": ACCEPT, "20m": ACCEPT,
        "0.1": ACCEPT, "600s": ACCEPT, "2": ACCEPT,
    }.items():  # fmt: skip
        add("timeout_value", f"allocator_param(timeout={value})\n", expect, "timeout")
    for value, expect in {"6": REJECT, "-1": REJECT, "x": REJECT, "2.5": REJECT,
                          "0": ACCEPT, "5": ACCEPT}.items():  # fmt: skip
        add("flavor_value", f"model_optimization_flavor(compression_level={value})\n", expect)
    for text in (
        "resources_param(0.5)",
        "resources_param(max_utilization=0.5, 0.5)",
        "context_switch_param(mode=[enabled])",
        "context_switch_param(mode=1)",
        "context_switch_param(mode=off)",
        "context_switch_param(enabled)",
        "allocator_param(timeout=[1])",
        "performance_param(optimize_for_batch={8})",
        "quantization_param(conv0, precision_mode=[a8_w4])",
        "quantization_param(conv0, precision_mode=a4_w4)",
        "quantization_param(precision_mode=a8_w4)",
        "quantization_param(conv0, conv1, precision_mode=a8_w4)",
        "context_0 = context(conv0)",
        'context_0 = context("conv0")',
        "context_0 = context({conv0})",
        "context_0 = context([conv0], [conv1])",
        "context_0 = context()",
        "context_0, context_1 = context([conv0])",
        "x = resources_param(max_utilization=0.5)",
        "model_optimization_flavor(compression_level=[1])",
        "resources_param(max_utilization=max_utilization)",
        "context_a = context([conv0])",
        "contexts_0 = context([conv0])",
    ):
        add("wrong_type", text + "\n", REJECT)
    for text, expect, key in (
        ("resources_param(max_utilisation=0.5)", REJECT, "max_utilisation"),
        ("resources_param(max_cntrol_utilization=0.5)", REJECT, "max_cntrol_utilization"),
        ("resources_param(strategy=greedy)", ACCEPT, ""),
        ("allocator_param(timout=10)", REJECT, "timout"),
        ("performance_param(optimise_for_batch=8)", REJECT, "optimise_for_batch"),
        ("context_switch_param(mod=enabled)", REJECT, "mod"),
        ("allocator_param(frobnicate=1)", ACCEPT, ""),
        ("quantization_param(conv0, precision_mod=a8_w4)", REJECT, "precision_mod"),
        ("allocator_param(automatic_ddr=True)", ACCEPT, ""),
        ("resources_param(max_utilization=0.8, max_utilization=0.9)", REJECT, "twice"),
    ):
        add("keyword", text + "\n", expect, *([key] if key else []))
    for name in ("frobnicate", "nms_postprocess", "normalization", "x" * 200, "change_output"):
        add("unknown_command", f"{name}(a=1)\n", ACCEPT)
    for text in (
        "resources_param(max_utilization=0.5",
        "resources_param(max_utilization=0.5))",
        "resources_param max_utilization=0.5",
        "resources_param(max_utilization==0.5)",
        "resources_param(=0.5)",
        "resources_param(max_utilization=)",
        "context_0 = context([conv0)]",
        "context_0 = context([conv0]",
        "context_0 context([conv0])",
        "context_0 = ",
        "= context([conv0])",
        "(",
        ")",
        "]",
        "{",
        ",",
        "=",
        "resources_param(max_utilization=0.5) resources_param(max_utilization=0.5)",
        'resources_param(max_utilization="0.5)',
        "resources_param(max_utilization='0.5)",
        "context_0 = context([conv0,, conv1])",
        "context_0 = context([, conv0])",
        "resources_param(max_utilization=0.5 0.6)",
        "resources_param(max_utilization=0.5;)",
        "resources_param(max_utilization=0.5)\\",
        "\\resources_param(max_utilization=0.5)",
        "resources_param(max_utilization=0.5)$",
        "resources_param()()",
        "resources_param(max_utilization=(0.5))",
        "context_0 = context([[conv0]])",
    ):
        add("syntax", text + "\n", REJECT)
    for text in ("resources_param(max_utilization=0.5,)", "context_0 = context([conv0,])"):
        add("syntax_odd", text + "\n", EITHER)
    layer = rng.choice(CHAIN_LAYERS)
    for text, expect, names in (
        ("context_0 = context([no_such_layer])", REJECT, ("no_such_layer",)),
        ("context_0 = context([conv00])", REJECT, ("did you mean",)),
        (f"context_0 = context([{layer}, {layer}])", REJECT, (layer,)),
        ("context_0 = context([conv0])\ncontext_1 = context([conv0])", REJECT, ("conv0",)),
        ("context_0 = context([])", REJECT, ("context_0",)),
        ("context_0 = context([conv0])\ncontext_2 = context([conv1])", REJECT, ("context_1",)),
        ("context_-1 = context([conv0])", REJECT, ()),
        ("context_99999 = context([conv0])", REJECT, ("context_99999",)),
        ("context_" + "9" * 5000 + " = context([conv0])", REJECT, ()),
        ("context_0 = context([conv*])", REJECT, ("conv*",)),
        ("context_0 = context([conv0])\ncontext_0 = context([conv1])", REJECT, ("twice",)),
        ("context_1 = context([conv0])", REJECT, ("context_0",)),
        ("context_0 = context([chain/conv0])", ACCEPT, ()),
        ("context_0 = context([conv0, conv1, conv2, conv3, conv4, conv5])", ACCEPT, ()),
    ):
        line = text.count("\n") + 1 if expect == REJECT and "\n" in text else 1
        add("context", text + "\n", expect, *names, line=line)
    for text, expect, names, line in (
        # the search names the pins, not the script's lines (a partition fails as a whole)
        ("context_0 = context([conv5])\ncontext_1 = context([conv0])", REJECT, ("pins",), 0),
        (
            "context_0 = context([conv0, conv2, conv4])\n"
            "context_1 = context([conv1, conv3, conv5])",
            REJECT,
            ("pins",),
            0,
        ),
        (
            "context_switch_param(mode=disabled)\ncontext_0 = context([conv0])\n"
            "context_1 = context([conv1])",
            REJECT,
            ("line 1", "context_1"),
            3,
        ),
        (
            "resources_param(max_utilization=0.05)\n"
            "context_0 = context([conv0, conv1, conv2, conv3, conv4, conv5])",
            EITHER,
            (),
            None,
        ),
        (
            "\n".join(f"context_{i} = context([{n}])" for i, n in enumerate(CHAIN_LAYERS)),
            ACCEPT,
            (),
            None,
        ),
        ("context_switch_param(mode=enabled)", ACCEPT, (), None),
        ("context_switch_param(mode=disabled)", ACCEPT, (), None),
    ):
        add("pins", text + "\n", expect, *names, line=line)
    for text, expect, names in (
        ("quantization_param(no_layer, precision_mode=a8_w4)", REJECT, ("no_layer",)),
        ("quantization_param(head*, precision_mode=a8_w4)", ACCEPT, ()),
        ("quantization_param({conv*}, precision_mode=a16_w16)", ACCEPT, ()),
        ("quantization_param([conv0, [conv1]], precision_mode=a8_w4)", REJECT, ("nested",)),
        ("quantization_param([], precision_mode=a8_w4)", EITHER, ()),
        ("quantization_param(chain/conv0, precision_mode=a8_w4)", ACCEPT, ()),
        ("quantization_param(conv0, precision_mode=a8_w4, bias_mode=double)", ACCEPT, ()),
    ):
        add("quantization", text + "\n", expect, *names)
    base = b"resources_param(max_utilization=0.8)\n"
    for _ in range(10):
        add("binary", rng.randbytes(rng.randint(1, 4096)), EITHER, line=None)
    for kind, data, expect in (
        ("nul", b"resources_param(max_\x00utilization=0.8)\n", REJECT),
        ("utf16", base.decode().encode("utf-16"), REJECT),
        ("bom", b"\xef\xbb\xbf" + base, ACCEPT),
        ("crlf", base.replace(b"\n", b"\r\n") * 2, ACCEPT),
        ("cr_only", base.replace(b"\n", b"\r") * 2, EITHER),
        ("latin1", b"# caf\xe9\n" + base, REJECT),
        ("elf", b"\x7fELF\x02\x01\x01" + bytes(64), REJECT),
        ("line_separator", "resources_param(max_utilization=0.8)\u2028x\n".encode(), EITHER),
        ("vertical_tab", b"resources_param(max_utilization=0.8)\x0b\n", EITHER),
        ("zero_width", "resources\u200b_param(max_utilization=0.8)\n".encode(), EITHER),
        ("ansi", b"resources_param(max_utilization=\x1b[31m0.8)\n", REJECT),
        ("surrogate", b"# \xed\xa0\x80\n" + base, REJECT),
        ("rtl", "context_0 = context([conv0\u202e])\n".encode(), REJECT),
        ("markup", b'context_0 = context(["[/]", "[bold]x"])\n', REJECT),
    ):
        add(f"encoding_{kind}", data, expect, line=None)
    big = 1_000_000
    for kind, text, expect in (
        ("comment", "#" + "x" * big + "\n" + base.decode(), ACCEPT),
        ("name", "context_0 = context([" + "a" * big + "])\n", REJECT),
        ("list", "context_0 = context([" + ", ".join(["conv0"] * 100_000) + "])\n", REJECT),
        ("number", "resources_param(max_utilization=" + "9" * big + ")\n", REJECT),
        ("string", 'context_0 = context(["' + "s" * big + '"])\n', REJECT),
        ("backslashes", 'resources_param(max_utilization="' + "\\\\" * (big // 2) + '")\n', REJECT),
        ("bare_backslashes", "\\" * big + "\n", REJECT),
        ("nested_50k", "context_0 = context(" + "[" * 50_000 + "]" * 50_000 + ")\n", REJECT),
        ("nested_500k", "context_0 = context(" + "[" * 500_000 + "]" * 500_000 + ")\n", REJECT),
        ("lines", "# comment\n" * 100_000 + base.decode(), ACCEPT),
        ("word", "x" * big + "(a=1)\n", ACCEPT),
        ("many_commands", "resources_param(max_utilization=0.8)\n" * 50_000, ACCEPT),
    ):
        add(f"huge_{kind}", text, expect, line=1 if expect == REJECT else None)
    add("huge_late_error", "# ok\n" * 50_000 + "resources_param(=)\n", REJECT, line=50_001)
    examples = sorted((ROOT / "examples").glob("*.alls"))
    lines = [
        line
        for path in examples
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for _ in range(300):
        add("mutation", _mutate(rng.choice(lines), rng) + "\n", EITHER, line=None)
    for _ in range(60):  # one line of a whole example mutated: the error names its line
        text = rng.choice(examples).read_text().split("\n")
        i = rng.randrange(len(text))
        text[i] = _mutate(text[i], rng)
        add("file_mutation", "\n".join(text), EITHER, line=None)
    for kind, path, expect in _special_files(d):
        cases.append(
            Case(
                group="alls",
                kind=f"file_{kind}",
                argv=("compile", str(m), "--script", path, *TIMEOUT),
                expect=expect,
                names=(path,) if expect == REJECT else (),
            )
        )
    return cases


def _mutate(line: str, rng: random.Random) -> str:
    """One random edit: delete, insert or replace a character, or duplicate a span."""
    junk = "()[]{},=\"'#%x٣\x00\\ 0.-9eE"
    i = rng.randrange(len(line) + 1)
    op = rng.randrange(4)
    if op == 0 and line:
        return line[: max(0, i - 1)] + line[i:]
    if op == 1:
        return line[:i] + rng.choice(junk) + line[i:]
    if op == 2 and line:
        i = min(i, len(line) - 1)
        return line[:i] + rng.choice(junk) + line[i + 1 :]
    j = rng.randrange(i, len(line) + 1)
    return line[:j] + line[i:j] + line[j:]


def _special_files(d: Path) -> list[tuple[str, str, str]]:
    """Paths that are not plain files: a directory, a FIFO, a missing file, devices, links."""
    special = d / "special"
    special.mkdir(exist_ok=True)
    (special / "dir.x").mkdir(exist_ok=True)
    out = [
        ("directory", str(special / "dir.x"), REJECT),
        ("missing", str(special / "missing.x"), REJECT),
        ("dev_null", "/dev/null", REJECT),
        ("empty", str(_touch(special / "empty.x")), ACCEPT),
    ]
    if hasattr(os, "mkfifo"):
        fifo = special / "fifo.x"
        if not fifo.exists():
            os.mkfifo(fifo)
        out.append(("fifo", str(fifo), REJECT))
    loop = special / "loop.x"
    if not loop.is_symlink():
        loop.symlink_to(loop)
    dangling = special / "dangling.x"
    if not dangling.is_symlink():
        dangling.symlink_to(special / "nowhere")
    out += [("symlink_loop", str(loop), REJECT), ("dangling_link", str(dangling), REJECT)]
    if Path("/proc/self/mem").exists():
        out.append(("proc_mem", "/proc/self/mem", REJECT))
    return out


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


# -- hardware files -------------------------------------------------------------------------------
def toml_cases(root: Path, models: dict[str, Path], rng: random.Random) -> list[Case]:
    """Hardware files with a bad number for every key, bad keys and tables, bad cluster ids,
    bad encodings and bad TOML, and files that are not files."""
    from cost_model.ranges import HARDWARE_RANGES

    d = root / "toml"
    d.mkdir(parents=True, exist_ok=True)
    m = models["chain"]
    cases: list[Case] = []

    def add(kind: str, body: str | bytes, expect: str, *names: str, command: str = "") -> None:
        path = d / f"{len(cases):04d}_{kind}.toml"
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8")
        argv = ("compile", str(m), "--hw", str(path), *TIMEOUT)
        if command == "profile":
            argv = ("profile", str(m), "--hw", str(path))
        cases.append(
            Case(
                group="toml",
                kind=kind,
                argv=argv,
                expect=expect,
                names=(str(path), *names) if expect == REJECT else (),
                protect=(str(path),),
            )
        )

    for key, accepted in HARDWARE_RANGES.items():
        values = ["nan", "inf", "-inf", "-1", "1e300", '"x"', "true", "[1]"]
        values += [str(int(accepted.high) + 1) if accepted.integer else f"{accepted.high * 10:g}"]
        if accepted.low > 0 or accepted.low_open:
            values.append("0")
        if accepted.integer:
            values += ["1.5", "1000000000000000000"]
        for value in values:
            table, name = ("[link]\n", key.split(".", 1)[1]) if "." in key else ("", key)
            body = f'base = "hailo8"\n{table}{name} = {value}\n'
            command = "profile" if rng.random() < 0.2 else ""
            add("number", body, REJECT, name, command=command)
    for body, names in (
        ('base = "hailo8"\nlcu_total = 96\n', ("lcu_total", "lcus_total")),
        ('base = "hailo8"\nclock = 4e8\n', ("clock",)),
        ('base = "hailo8"\n[link]\nspeed = 3\n', ("link.speed",)),
        ('base = "hailo8"\n[other]\nx = 1\n', ("other",)),
        ('base = "hailo8"\nlink = 3\n', ("link",)),
        ('base = "hailo9"\n', ("hailo9",)),
        ("base = 8\n", ("base",)),
        ('name = "x"\n', ("[link]",)),
        ('name = "x"\n[link]\ngeneration = 3\nlanes = 4\n', ("clusters",)),
        ('base = "hailo8"\n[link]\ngeneration = 9\n', ("generation 9",)),
        ('base = "hailo8"\n[link]\nlanes = 3\n', ("lane count 3",)),
        ('base = "hailo8"\n[link]\nlanes = 2.5\n', ("link.lanes",)),
        ('base = "hailo8"\nname = 5\n', ("name",)),
        ('base = "hailo8"\nnotes = ["x"]\n', ("notes",)),
        ('base = "hailo8"\nfused_ops = ["frobnicate"]\n', ("frobnicate",)),
        ('base = "hailo8"\nfused_ops = "activation"\n', ("fused_ops",)),
        ('base = "hailo8"\n[extra_nodes_by_op]\nnorm = -1\n', ("norm",)),
        ('base = "hailo8"\n[extra_nodes_by_op]\nnorm = 1.5\n', ("extra_nodes_by_op",)),
        ('base = "hailo8"\n[extra_nodes_by_op]\nfrob = 1\n', ("frob",)),
        ('base = "hailo8"\ncluster_ids = [0, 0, 0, 0, 0, 0, 0, 0]\n', ("cluster_ids",)),
        ('base = "hailo8"\ncluster_ids = [-1, -2, 99, 1000000, 1, 2, 3, 4]\n', ("cluster_ids",)),
        ('base = "hailo8"\ncluster_ids = [0, 1]\n', ("cluster_ids",)),
        ('base = "hailo8"\ncluster_ids = ["a"]\n', ("cluster_ids",)),
        ('base = "hailo8"\ncluster_ids = [0.5]\n', ("cluster_ids",)),
        ('base = "hailo8"\nclusters = 4\ncluster_ids = [0, 1, 4, 300]\n', ("cluster_ids",)),
        ('base = "hailo8"\nclusters = 4\n', ()),  # accepted: ids 0..3
    ):
        add("key", body, ACCEPT if not names else REJECT, *names)
    for kind, data in (
        ("latin1", b'base = "hailo8"\nname = "caf\xe9"\n'),
        ("utf16", 'base = "hailo8"\n'.encode("utf-16")),
        ("nul", b'base = "hailo8"\x00\n'),
        ("syntax", b'base = "hailo8\n'),
        ("syntax_table", b'base = "hailo8"\n[link\n'),
        ("syntax_dup", b'base = "hailo8"\nbase = "hailo8l"\n'),
        ("empty", b""),
        *((f"binary_{i}", rng.randbytes(rng.randint(1, 2048))) for i in range(8)),
    ):
        add(kind, data, REJECT)
    for kind, path, _ in _special_files(d):
        cases.append(
            Case(
                group="toml",
                kind=f"file_{kind}",
                argv=("compile", str(m), "--hw", path, *TIMEOUT),
                expect=REJECT,
                names=(path,),
            )
        )
    for name in ("hailo9", "", "[/]", "\x1b[31m", "h" * 5000):
        cases.append(
            Case(group="toml", kind="preset", argv=("compile", str(m), "--hw", name), names=())
        )
    return cases


# -- command-line values ---------------------------------------------------------------------------
def cli_cases(root: Path, models: dict[str, Path], rng: random.Random) -> list[Case]:
    """Numbers, shapes, model names and output targets on the command line."""
    m = str(models["chain"])
    out = str(root / "out")
    Path(out).mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(kind: str, argv: Sequence[str], expect: str, *names: str) -> None:
        cases.append(Case(group="cli", kind=kind, argv=tuple(argv), expect=expect, names=names))

    numbers = {
        "nan": REJECT, "inf": REJECT, "-inf": REJECT, "1e308": REJECT, "1e-9": REJECT,
        "0": REJECT, "-1": REJECT, "abc": REJECT, "٣": REJECT, "1_0": REJECT, "0x10": REJECT,
        "": REJECT, "1e999": REJECT,
    }  # fmt: skip
    for flag, good in (
        ("--timeout", ("0.1", "2.5", "86400")),
        ("--iteration-timeout", ("0.1", "1")),
        ("--max-utilization", ("0.8", "1.5")),
    ):
        extra = {"86401": REJECT} if "timeout" in flag else {"0.01": REJECT, "1.51": REJECT}
        if flag == "--max-utilization":
            extra["0.05"] = EITHER  # in range; the chain's layers may not fit 5% of the chip
        for value, expect in {**numbers, **extra, **dict.fromkeys(good, ACCEPT)}.items():
            argv = ["compile", m, f"{flag}={value}"]
            if flag != "--timeout":
                argv += TIMEOUT
            add(flag, argv, expect, flag)
    wholes = {"abc": REJECT, "٣": REJECT, "1.5": REJECT, "-1": REJECT, "1e3": REJECT,
              "99999999999999999999": REJECT, "": REJECT}  # fmt: skip
    for flag, bad, good in (
        ("--seed", ("2147483648", "-5"), ("0", "2147483647")),
        ("--workers", ("0", "257"), ("1", "2")),
        ("--batch", ("0", "64"), ("1", "63")),
        ("--optimize-for-batch", ("0", "64"), ("1", "8")),
    ):
        values = {**wholes, **dict.fromkeys(bad, REJECT), **dict.fromkeys(good, ACCEPT)}
        for value, expect in values.items():
            add(flag, ["compile", m, f"{flag}={value}", *TIMEOUT], expect, flag)
    for value, expect in {**numbers, "1e8": REJECT, "1e-9": EITHER}.items():
        add(
            "--target-fps",
            ["explain", m, f"--target-fps={value}", *TIMEOUT],
            expect,
            "--target-fps",
        )
    for value in ("nan", "inf", "0", "abc", "1e9"):
        add("explain --timeout", ["explain", m, f"--timeout={value}"], REJECT, "--timeout")
        add("sweep --timeout", ["sweep", "yolov8n", "--width=0.25", f"--timeout={value}"], REJECT,
            "--timeout")  # fmt: skip
    for value in ("0", "2000", "abc", "٣"):
        add("sweep --jobs", ["sweep", "yolov8n", "--width=0.25", f"--jobs={value}"], REJECT,
            "--jobs")  # fmt: skip
    for value in ("a:b:c", "1:0:0.1", "0:1:0", "nan:1:0.1", "0:inf:0.5", "0.1:0.2:0.0000001"):
        add("sweep --width", ["sweep", "yolov8n", f"--width={value}", "--out", out], REJECT,
            "--width")  # fmt: skip
    for flag, values in (
        ("--width", ("nan", "inf", "0", "-1", "1e9", "abc", "٣")),
        ("--depth", ("nan", "inf", "0", "1e9")),
        ("--resolution", ("0", "-1", "1e9", "abc", "1.5", "100001")),
    ):
        for value in values:
            add(flag, ["compile", "yolov8n", f"{flag}={value}", *TIMEOUT], REJECT, flag)
    for shape, names in (
        ("5x7x640x640", ("batch 5", "7 channels")),
        ("1x7x640x640", ("7 channels",)),
        ("2x3x640x640", ("batch 2",)),
        ("3x512x512", ("1x3x512x512",)),
        ("1x3x4294967296x4294967296", ("1x3x4294967296x4294967296",)),
        ("1x3x100001x100001", ("100001",)),
        ("1x3x٣x4", ("1x3x٣x4",)),
        ("0x3x64x64", ("zero",)),
        ("1x3x64x48", ("input width 48",)),  # 64x32 is a valid non-square input
        ("abc", ("abc",)),
        ("", ()),
        ("1x3x64x64x64x64x64x64x64", ()),
        ("1,3,,64", ("1,3,,64",)),
    ):
        add("--input-shape", ["compile", "yolov8n", f"--input-shape={shape}", *TIMEOUT], REJECT,
            *names)  # fmt: skip
    for spec, names in (
        ("", ()),
        ("[/]", ("[/]",)),
        ("x[/]y.onnx", ("x[/]y.onnx",)),
        ("yolo[bold]v8n", ("yolo[bold]v8n",)),
        ("\x1b[31mred", ("\\x1b[31mred",)),
        ("m" * 5000, ()),
        ("nets.py", ("nets.py",)),
        ("missing.py:f", ("missing.py",)),
        (f"{models['factory']}:no_such", ("no_such",)),
        (f"{models['factory']}:1bad", ("1bad",)),
        ("missing.json", ("missing.json",)),
        (str(root), ()),
    ):
        add("model", ["compile", spec, *TIMEOUT], REJECT, *names)
    add("--context-switch", ["compile", m, "--context-switch", "sometimes"], REJECT, "sometimes")
    add("onnx option", ["compile", m, "--start-nodes", "conv0"], REJECT, "--start-nodes")
    add("knob on a graph", ["compile", m, "--width", "0.5"], REJECT, "--width")
    targets: list[tuple[list[str], tuple[str, ...]]] = [
        (["--json", "-", "--emit-script", "-"], ("--json", "--emit-script")),
        (["--json", ""], ("--json",)),
        (["--emit-script", ""], ("--emit-script",)),
        (["--html", ""], ("--html",)),
        (["--html", "-"], ("--html",)),
        (["--json", f"{out}/x.json", "--html", f"{out}/x.json"], ("--json", "--html")),
        (["--json", out], ("--json",)),
        (["--html", out], ("--html",)),
        (["--json", f"{out}/no/such/x.json"], ("--json",)),
        (["--emit-script", f"{out}/no/x.alls"], ("--emit-script",)),
        (["--json", "/proc/version"], ("--json",)),
        (["--json", "/dev/full"], ("/dev/full",)),
        (["--json", f"{out}/" + "x" * 300], ("--json",)),
    ]
    for argv, names in targets:
        add("output target", ["compile", m, *argv, *TIMEOUT], REJECT, *names)
    add("output target", ["profile", m, "--json", ""], REJECT, "--json")
    add("output target", ["compare", str(models["a"]), str(models["b"]), "--json", ""], REJECT,
        "--json")  # fmt: skip
    add("output target", ["zoo", "--json", ""], REJECT, "--json")
    add("output target", ["sweep", "yolov8n", "--width=0.25", "--out", ""], REJECT, "--out")
    rng.shuffle(cases)
    return cases


# -- outputs onto inputs ---------------------------------------------------------------------------
def safety_cases(root: Path, models: dict[str, Path], rng: random.Random) -> list[Case]:
    """Every command's outputs pointed at every file it reads, spelt several ways."""
    d = root / "safety"
    d.mkdir(parents=True, exist_ok=True)
    chain, hw, script = models["chain"], models["hw"], models["script"]
    hard = d / "hard_chain.json"
    if not hard.exists():
        os.link(chain, hard)
    soft = d / "soft_chain.json"
    if not soft.is_symlink():
        soft.symlink_to(chain)
    hard_hw = d / "hard_hw.toml"
    if not hard_hw.exists():
        os.link(hw, hard_hw)
    spellings = {
        "chain": [str(chain), str(hard), str(soft), f"{chain.parent}/./{chain.name}",
                  f"{chain.parent}/safety/../{chain.name}"],
        "hw": [str(hw), str(hard_hw), f"{hw.parent}/./{hw.name}"],
        "script": [str(script), f"{script.parent}/./{script.name}"],
    }  # fmt: skip
    protect = (str(chain), str(hw), str(script), str(models["factory"]))
    cases: list[Case] = []

    def add(kind: str, argv: Sequence[str], flag: str, target: str) -> None:
        cases.append(
            Case(
                group="safety",
                kind=kind,
                argv=tuple(argv),
                names=(flag,),
                protect=protect,
            )
        )

    base = ["compile", str(chain), "--hw", str(hw), "--script", str(script), *TIMEOUT]
    for flag in ("--json", "--html", "--emit-script"):
        for what, targets in spellings.items():
            for target in targets:
                add(f"compile {flag} onto {what}", [*base, flag, target], flag, target)
    for command in ("profile", "explain"):
        for what in ("chain", "hw"):
            for target in spellings[what]:
                argv = [command, str(chain), "--hw", str(hw), "--json", target]
                add(f"{command} --json onto {what}", argv, "--json", target)
    factory = f"{models['factory']}:tiny"
    for command, flag in (("profile", "--json"), ("compile", "--json"), ("compile", "--html"),
                          ("compile", "--emit-script")):  # fmt: skip
        argv = [command, factory, "--input-shape", "1x3x8x8", flag, str(models["factory"])]
        add(f"{command} {flag} onto factory", argv, flag, str(models["factory"]))
    for target in (models["a"], models["b"]):
        argv = ["compare", str(models["a"]), str(models["b"]), "--json", str(target)]
        cases.append(
            Case(
                group="safety",
                kind="compare --json onto an input",
                argv=tuple(argv),
                names=("--json",),
                protect=(str(models["a"]), str(models["b"])),
            )
        )
    return cases


# -- ONNX ------------------------------------------------------------------------------------------
def onnx_cases(root: Path, seed: int) -> tuple[list[Case], str]:
    """Compile and profile every file of the ONNX corpus; returns the cases and where the files
    came from."""
    d = root / "onnx"
    d.mkdir(parents=True, exist_ok=True)
    try:
        from tests.bad_onnx_corpus import generate  # the importer's own corpus
    except ImportError:
        files = own_onnx_files(d, seed)
        source = (
            f"{len(files)} files of benchmarks.badinputs.own_onnx_files (no tests.bad_onnx_corpus)"
        )
    else:
        files = [(str(path), expected) for path, expected in generate(d, seed)]
        source = f"{len(files)} files of tests.bad_onnx_corpus.generate(seed={seed})"
    cases = []
    for path, expected in files:
        expect = {"reject": REJECT, "accept": ACCEPT}.get(expected, EITHER)
        out = str(root / "onnx_out.json")
        # an importable network may still not compile (a layer larger than a context's caps)
        compile_expect = EITHER if expect == ACCEPT else expect
        cases.append(
            Case(group="onnx", kind="compile", argv=("compile", path, *TIMEOUT, "--json", out),
                 expect=compile_expect)
        )  # fmt: skip
        cases.append(Case(group="onnx", kind="profile", argv=("profile", path), expect=expect))
    return cases, source


def own_onnx_files(d: Path, seed: int) -> list[tuple[str, str]]:
    """A small ONNX set (a conv-relu chain and its mutations) for when the importer's corpus is
    not there: truncations, byte overwrites, out-of-range attributes and dims, bad names, graph
    errors, and files that are not ONNX."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = random.Random(seed)

    def model(**over: object) -> onnx.ModelProto:
        attrs = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [1, 1], "group": 1}
        attrs.update({k: v for k, v in over.items() if k in attrs or k == "dilations"})
        dims = over.get("dims", [1, 3, 16, 16])
        weight = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
        nodes = [
            helper.make_node(
                "Conv", ["x", "w"], ["c"], name=str(over.get("name", "conv0")), **attrs
            ),
            helper.make_node("Relu", ["c"], [str(over.get("tensor", "y"))], name="relu0"),
        ]
        graph = helper.make_graph(
            nodes,
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
            [helper.make_tensor_value_info(str(over.get("tensor", "y")), TensorProto.FLOAT, None)],
            [weight],
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    files: list[tuple[str, str]] = []

    def save(name: str, data: bytes | onnx.ModelProto, expected: str) -> None:
        path = d / f"{len(files):03d}_{name}.onnx"
        path.write_bytes(data if isinstance(data, bytes) else data.SerializeToString())
        files.append((str(path), expected))

    good = model().SerializeToString()
    save("valid", good, "accept")
    for i in range(60):
        save(f"truncated_{i}", good[: rng.randrange(1, len(good))], "either")
    for i in range(60):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        save(f"bytes_{i}", bytes(data), "either")
    for name, over in (
        ("group0", {"group": 0}),
        ("group_neg", {"group": -1}),
        ("stride0", {"strides": [0, 0]}),
        ("stride_neg", {"strides": [-1, -1]}),
        ("pads_huge", {"pads": [10**9] * 4}),
        ("pads_neg", {"pads": [-5] * 4}),
        ("kernel_huge", {"kernel_shape": [2**40, 2**40]}),
        ("dilation0", {"dilations": [0, 0]}),
        ("dilation_huge", {"dilations": [10**6, 10**6]}),
        ("dims0", {"dims": [1, 3, 0, 16]}),
        ("dims_neg", {"dims": [1, 3, -1, 16]}),
        ("dims_huge", {"dims": [1, 3, 10**9, 10**9]}),
        ("dims_2_62", {"dims": [1, 3, 2**62, 16]}),
        ("scalar", {"dims": []}),
    ):
        save(name, model(**over), "reject")
    for name, over in (
        ("markup", {"name": "conv[/]0"}),
        ("bold", {"name": "[bold]conv"}),
        ("ansi", {"name": "conv\x1b[31m0"}),
        ("newline", {"name": "new\nline"}),
        ("long", {"name": "n" * 5000}),
        ("tensor_markup", {"tensor": "y[/]"}),
    ):
        save(name, model(**over), "accept")
    bad_name = model().SerializeToString().replace(b"conv0", b"co\xffv0")
    save("name_not_utf8", bad_name, "either")
    for name, data in (
        ("empty", b""),
        ("text", b"this is not onnx\n"),
        ("json", b'{"graph": {}}'),
        ("random", rng.randbytes(4096)),
        ("nul", bytes(1024)),
        ("varint", b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
    ):
        save(name, data, "reject")
    return files


# -- running ---------------------------------------------------------------------------------------
def digest(path: str) -> str | None:
    """SHA-256 of a regular file's bytes, ``None`` when it is not one (or unreadable)."""
    try:
        if not Path(path).is_file():
            return None
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def run_case(case: Case) -> Outcome:
    """Run one case in this process: ``main(argv)`` with stdout and stderr captured."""
    from partitioner.cli import main

    before = {p: digest(p) for p in case.protect}
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    code: int | None
    failure = ""
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(case.argv))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except Exception as exc:  # the count this benchmark exists for
            code = None
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{Path(frame.filename).name}:{frame.lineno}"
            failure = f"{type(exc).__name__}: {str(exc)[:200]} ({where})"
    seconds = time.perf_counter() - started
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    changed = [p for p, d in before.items() if d is not None and digest(p) != d]
    return Outcome(
        case=case,
        code=code,
        seconds=seconds,
        error=lines[-1][:2000] if lines else "",
        traceback=failure,
        changed=changed,
    )


def _worker() -> None:
    """Read cases (JSON lines) on stdin, answer outcomes (JSON lines) on stdout."""
    real_stdout = sys.stdout
    for line in sys.stdin:
        data = json.loads(line)
        case = Case(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
        outcome = run_case(case)
        payload = asdict(outcome)
        payload.pop("case")
        real_stdout.write(json.dumps(payload) + "\n")
        real_stdout.flush()


class Runner:
    """The worker process, restarted after a hang."""

    def __init__(self, hang_s: float = HANG_S) -> None:
        self.hang_s = hang_s
        self.process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="100")
        return subprocess.Popen(
            [sys.executable, "-m", "benchmarks.badinputs", "--worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, case: Case) -> Outcome:
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        assert self.process.stdin is not None and self.process.stdout is not None
        started = time.perf_counter()
        self.process.stdin.write(json.dumps(asdict(case)) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], self.hang_s)
        line = self.process.stdout.readline() if ready else ""
        if not line:  # a hang, or the worker died (a native abort)
            hung = not ready
            self.close()
            return Outcome(
                case=case,
                code=None,
                seconds=time.perf_counter() - started,
                hang=hung,
                traceback="" if hung else "the worker process died",
            )
        data = json.loads(line)
        return Outcome(case=case, **data)

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def all_cases(root: Path, seed: int, *, onnx: bool = True) -> tuple[list[Case], str]:
    """The whole corpus under ``root``; with ``onnx``, the ONNX cases too (and their source)."""
    rng = random.Random(seed)
    models = write_models(root / "models")
    cases = alls_cases(root, models, rng)
    cases += toml_cases(root, models, rng)
    cases += cli_cases(root, models, rng)
    cases += safety_cases(root, models, rng)
    source = "not run"
    if onnx:
        onnx_list, source = onnx_cases(root, seed)
        cases += onnx_list
    return cases, source


# -- the report ------------------------------------------------------------------------------------
def summarize(outcomes: Sequence[Outcome]) -> dict[str, int]:
    """The counts the section reports (and the test asserts on)."""
    return {
        "cases": len(outcomes),
        "tracebacks": sum(1 for o in outcomes if o.traceback),
        "hangs": sum(1 for o in outcomes if o.hang),
        "other exit codes": sum(1 for o in outcomes if o.code not in (0, 2, None)),
        "unnamed rejections": sum(1 for o in outcomes if o.code == 2 and not o.named),
        "inputs changed": sum(1 for o in outcomes if o.changed),
        "accepted, expected rejected": sum(
            1 for o in outcomes if o.code == 0 and o.case.expect == REJECT
        ),
        "rejected, expected accepted": sum(
            1 for o in outcomes if o.code == 2 and o.case.expect == ACCEPT
        ),
    }


def problems(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """Outcomes that count against ctxfit."""
    return [
        o
        for o in outcomes
        if o.traceback
        or o.hang
        or o.code not in (0, 2, None)
        or (o.code == 2 and not o.named)
        or o.changed
        or (o.code == 0 and o.case.expect == REJECT)
        or (o.code == 2 and o.case.expect == ACCEPT)
    ]


def report(outcomes: Sequence[Outcome], source: str, command: str, root: str = "") -> list[str]:
    """The RESULTS.md section (``root``, the corpus directory, is written ``CORPUS``)."""
    from benchmarks.common import header, md_table

    lines = header(command)
    groups = sorted({o.case.group for o in outcomes})
    rows = []
    for group in groups:
        mine = [o for o in outcomes if o.case.group == group]
        counts = summarize(mine)
        codes = Counter(o.code for o in mine)
        seconds = sorted(o.seconds for o in mine)
        rows.append(
            [
                group,
                len(mine),
                codes.get(2, 0),
                codes.get(0, 0),
                counts["tracebacks"],
                counts["hangs"],
                counts["other exit codes"],
                counts["unnamed rejections"],
                counts["inputs changed"],
                counts["accepted, expected rejected"],
                counts["rejected, expected accepted"],
                f"{seconds[len(seconds) // 2]:.2f}",
                f"{seconds[-1]:.1f}",
            ]
        )
    total = summarize(outcomes)
    lines += [
        "",
        f"{total['cases']} cases (ONNX: {source}); each runs `ctxfit ARGV` in-process through "
        f"`partitioner.cli.main` in a worker process that is killed after {HANG_S:g} s (a hang). "
        "A rejection must name the bad thing: every case lists the fragments its error line must "
        "hold (a script's file and line and key, a TOML file and key, the flag, the output path).",
        "",
        *md_table(
            [
                "group",
                "cases",
                "exit 2",
                "exit 0",
                "tracebacks",
                "hangs",
                "other exit",
                "unnamed rejections",
                "inputs changed",
                "accepted, expected rejected",
                "rejected, expected accepted",
                "median s",
                "max s",
            ],
            rows,
        ),
        "",
        f"Total: {total['tracebacks']} tracebacks, {total['hangs']} hangs over {HANG_S:g} s, "
        f"{total['other exit codes']} other exit codes, {total['unnamed rejections']} rejections "
        f"that do not name the bad thing, {total['inputs changed']} inputs changed. The ONNX "
        "cases measure the importer (`partitioner/importers/`); the others the command line, "
        "model scripts, hardware files and output paths.",
    ]
    bad = problems(outcomes)
    if bad:
        lines += ["", "Cases that count against ctxfit (first 40):", ""]
        for o in bad[:40]:
            what = (
                f"traceback {o.traceback}"
                if o.traceback
                else "hang"
                if o.hang
                else f"exit {o.code}: {o.error[:160]}"
            )
            shown = [a.replace(root, "CORPUS") if root else a for a in o.case.argv]
            argv = " ".join(a if len(a) < 60 else a[:57] + "..." for a in shown)
            lines.append(f"- {o.case.group}/{o.case.kind}: `{argv[:200]}` -> {what}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.badinputs", description=__doc__)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX files")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker()
        return 0
    from benchmarks.common import command_line, write_section

    command = command_line("python -m benchmarks.badinputs", argv)
    with tempfile.TemporaryDirectory(prefix="ctxfit-badinputs-") as tmp:
        cases, source = all_cases(Path(tmp), args.seed, onnx=not args.no_onnx)
        print(f"{len(cases)} cases", file=sys.stderr)
        runner = Runner()
        outcomes = []
        try:
            for i, case in enumerate(cases):
                outcomes.append(runner.run(case))
                if (i + 1) % 200 == 0:
                    print(f"{i + 1}/{len(cases)}", file=sys.stderr)
        finally:
            runner.close()
        lines = report(outcomes, source, command, root=tmp)
    print("\n".join(lines))
    if not args.no_write:
        write_section(SECTION, lines)
    return 0


__all__ = [
    "Case",
    "Outcome",
    "all_cases",
    "alls_cases",
    "cli_cases",
    "onnx_cases",
    "problems",
    "run_case",
    "safety_cases",
    "summarize",
    "toml_cases",
    "write_models",
]

if __name__ == "__main__":
    raise SystemExit(main())
