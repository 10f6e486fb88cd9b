"""Read and write Hailo model scripts (``.alls``): the commands ctxfit models, pinned partitions.

A model script is one command per line, ``#`` starts a comment, and a command is either a call
``name(arg, key=value, ...)`` or an assignment ``target[, target...] = name(...)``. Values are
bare words (``0.8``, ``80%``, ``max``, ``yolov8n/conv1``, ``conv*``), quoted strings, lists
``[a, b]`` and sets ``{a*, b}``. ctxfit reads:

- ``resources_param``: ``max_{control,compute,compute_16bit,memory,input_aligner,apu}_utilization``
  and ``max_utilization`` (all six at once; a keyword for one resource in the same command wins;
  ``max_utilization=0.0`` means "not set", as the Model Zoo writes it), as fractions from 0.05 to
  1.5 or percentages (``80%``; :data:`cost_model.ranges.CAP`). A later command overrides only the
  caps it names.
- ``context_switch_param(mode=allowed|enabled|disabled)``.
- ``allocator_param(timeout=...)``: ``600`` (seconds), ``600s``, ``20m``, ``1h``, ``1h30m``
  (0.1 s to one day).
- ``performance_param``: ``compiler_optimization_level=0|1|2|max``, ``optimize_for_batch`` (1..63),
  ``fps``.
- ``model_optimization_flavor(compression_level=0..5)``.
- ``quantization_param(LAYERS, precision_mode=a8_w8|a8_w4|a16_w16)``: LAYERS is a name, a list or a
  set of names and globs, possibly scoped by the network's name (``yolov8n/conv1``).
- ``context_N = context([...])``: the layers pinned to context N (N = 0, 1, 2, ... without gaps).

Any other command is ignored with one warning per command name. A keyword of a command above that
ctxfit does not model (``allocator_param(automatic_ddr=True)``) is ignored with one warning per
keyword (the keywords of one line share it). An unknown keyword is an error when it looks like a
misspelling of a keyword ctxfit reads (``timout``) or when the command is ``resources_param`` (a
misspelled cap would silently change the prediction), and a warning otherwise. A malformed line
raises :class:`ModelScriptError` ``"{source}:{line}: {what}; {fix}"``. Parsing is a small
hand-written tokenizer and a recursive descent over one line (brackets nested at most
:data:`MAX_NESTING` deep); nothing of the script is evaluated. Numbers are ASCII decimals, as
Hailo's parser reads them (no ``nan``, ``inf``, hex or non-ASCII digits).

>>> script = parse_model_script('''
... resources_param(max_control_utilization=1.2, max_memory_utilization=75%)  # caps
... performance_param(optimize_for_batch=8)
... allocator_param(timeout=1h30m)
... context_1 = context([conv3])
... context_0 = context([conv1, conv2])
... ''', source="net.alls")
>>> script.caps.control, script.caps.memory, script.optimize_for_batch, script.timeout_s
(1.2, 0.75, 8, 5400.0)
>>> script.pinned
(('conv1', 'conv2'), ('conv3',))
>>> print(emit_partition_script(script.pinned), end="")
context_0 = context([conv1, conv2])
context_1 = context([conv3])
>>> parse_model_script("allocator_param(timeout=20x)", source="net.alls")
Traceback (most recent call last):
...
partitioner.errors.ModelScriptError: net.alls:1: allocator_param: timeout=20x is not a duration; \
write seconds (600) or a duration like 600s, 20m, 1h, 1h30m
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from cost_model.layer import Precision
from cost_model.ranges import (
    CAP,
    FPS,
    MAX_DIGITS,
    TIMEOUT_S,
    parse_fraction,
    parse_integer,
    parse_number,
)
from partitioner.errors import ModelScriptError

ContextSwitchMode = Literal["allowed", "enabled", "disabled"]

MAX_NESTING = 32  # brackets nested deeper on one line are refused (nobody writes them)
MAX_BATCH = 63  # hailort accepts batch sizes 1..63
MAX_COMPRESSION_LEVEL = 5  # model_optimization_flavor(compression_level=0..5)
MAX_FLAVOR_LEVEL = 4  # model_optimization_flavor(optimization_level=0..4)
OPTIMIZATION_LEVELS = ("0", "1", "2", "max")  # performance_param(compiler_optimization_level=...)
CONTEXT_SWITCH_MODES: tuple[ContextSwitchMode, ...] = ("allowed", "enabled", "disabled")
NEAR_MISS_RATIO = 0.8  # difflib ratio above which an unknown keyword is taken for a misspelling

# resources_param keyword -> CapOverrides field
_CAP_KEYWORDS = {
    "max_control_utilization": "control",
    "max_compute_utilization": "compute",
    "max_compute_16bit_utilization": "compute_16bit",
    "max_memory_utilization": "memory",
    "max_input_aligner_utilization": "input_aligner",
    "max_apu_utilization": "apu",
}
_SEPARATORS = "()[]{},="
_BARE_WORD = re.compile(r"[^\s()\[\]{},=\"'#\\]+")
_DURATION = re.compile(
    r"(?:([0-9]+(?:\.[0-9]+)?)h)?(?:([0-9]+(?:\.[0-9]+)?)m)?(?:([0-9]+(?:\.[0-9]+)?)s)?", re.ASCII
)
_CONTEXT_TARGET = re.compile(r"context_([0-9]{1,6})", re.ASCII)
_GLOB_CHARS = "*?["


@dataclass(frozen=True, kw_only=True)
class CapOverrides:
    """Per-resource caps a script sets, as fractions of the chip's total (1.0 = 100%).

    ``None`` means the script leaves that resource at the compiler's default. ``compute_16bit``
    is stored but ctxfit has no separate 16-bit compute resource.

    >>> CapOverrides(control=0.8, memory=0.6).as_dict()
    {'control': 0.8, 'memory': 0.6}
    """

    control: float | None = None
    compute: float | None = None
    compute_16bit: float | None = None
    memory: float | None = None
    input_aligner: float | None = None
    apu: float | None = None

    def as_dict(self) -> dict[str, float]:
        """The caps that are set, by resource name, in field order."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: value for name, value in values.items() if value is not None}

    @property
    def is_empty(self) -> bool:
        """True when the script sets no cap."""
        return not self.as_dict()


@dataclass(frozen=True, kw_only=True)
class ModelScript:
    """What a model script asks of the compiler, in the terms ctxfit models.

    ``precision`` holds ``(pattern, mode)`` rules in script order (a later rule wins for a layer
    that several match); ``pinned[i]`` holds the layer names of ``context_i``, and
    ``pinned_lines[i]`` / ``precision_lines[i]`` the script line each came from. ``warnings``
    are one-line notes (``"line 7: ignoring unsupported command 'nms_postprocess' (...)"``).
    """

    source: str = "<script>"  # the path or name used in error messages
    caps: CapOverrides = field(default_factory=CapOverrides)  # resources_param
    context_switch: ContextSwitchMode = "allowed"  # context_switch_param(mode=...)
    context_switch_line: int | None = None  # the line that set it
    timeout_s: float | None = None  # allocator_param(timeout=...), in seconds
    optimize_for_batch: int | None = None  # performance_param(optimize_for_batch=...)
    target_fps: float | None = None  # performance_param(fps=...)
    optimization_level: str | int | None = None  # performance_param(compiler_optimization_level)
    compression_level: int | None = None  # model_optimization_flavor(compression_level=...)
    flavor_optimization_level: int | None = None  # model_optimization_flavor(optimization_level)
    precision: tuple[tuple[str, Precision], ...] = ()
    precision_lines: tuple[int, ...] = ()
    pinned: tuple[tuple[str, ...], ...] = ()
    pinned_lines: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()

    def precision_of(self, layer_name: str) -> Precision | None:
        """The precision the script sets for one layer, or None when no rule matches it.

        A rule matches a layer by glob (``conv*``), also after dropping the network-name scope
        of the pattern (``yolov8n/conv1`` matches ``conv1``). The last matching rule wins.

        >>> s = parse_model_script("quantization_param({net/conv*}, precision_mode=a8_w4)\\n"
        ...                        "quantization_param(conv2, precision_mode=a8_w8)")
        >>> s.precision_of("conv1"), s.precision_of("conv2"), s.precision_of("fc")
        (<Precision.A8_W4: 'a8_w4'>, <Precision.A8_W8: 'a8_w8'>, None)
        """
        found = None
        for pattern, mode in self.precision:
            if layer_matches(pattern, layer_name):
                found = mode
        return found

    def precision_by_layer(self, layer_names: Iterable[str]) -> dict[str, Precision]:
        """The precision of every named layer that some rule matches (for ``with_precision``).

        Raises:
            ModelScriptError: a rule without glob characters names no layer of ``layer_names``
                (the message carries the rule's line and a close name, if any).
        """
        names = tuple(layer_names)
        for (pattern, _), line in zip(self.precision, self.precision_lines, strict=True):
            if not _is_glob(pattern) and not any(layer_matches(pattern, n) for n in names):
                raise _unknown_layer_error(self.source, line, "quantization_param", pattern, names)
        result = {}
        for name in names:
            mode = self.precision_of(name)
            if mode is not None:
                result[name] = mode
        return result

    def resolve_pinned(self, layer_names: Iterable[str]) -> dict[str, int]:
        """Map each pinned layer to its context index, matching names as the network spells them.

        A pinned name matches a layer of the same name, or, failing that, after dropping its
        network-name scope (``yolov8n/conv1`` pins ``conv1``).

        >>> s = parse_model_script("context_0 = context([net/a, b])\\ncontext_1 = context([c])")
        >>> s.resolve_pinned(["a", "b", "c", "d"])
        {'a': 0, 'b': 0, 'c': 1}

        Raises:
            ModelScriptError: a pinned name matches no layer, or two pinned names match the
                same layer.
        """
        names = tuple(layer_names)
        known = set(names)
        assignment: dict[str, int] = {}
        for index, (layers, line) in enumerate(zip(self.pinned, self.pinned_lines, strict=True)):
            for pinned_name in layers:
                name = _resolve_name(pinned_name, known)
                if name is None:
                    what = f"context_{index}"
                    raise _unknown_layer_error(self.source, line, what, pinned_name, names)
                if name in assignment:
                    raise _script_error(
                        self.source,
                        line,
                        f"context_{index}: layer {name!r} is already pinned to "
                        f"context_{assignment[name]}",
                        "pin each layer to one context",
                    )
                assignment[name] = index
        return assignment

    def check_pins_allowed(self, mode: str, *, flag: bool) -> None:
        """Refuse pins to more than one context when context switching is ``disabled``.

        ``mode`` is the mode in force; ``flag`` says it came from ``--context-switch`` rather
        than this script's ``context_switch_param``.

        >>> s = parse_model_script("context_switch_param(mode=disabled)\\n"
        ...     "context_0 = context([a])\\ncontext_1 = context([b])", source="n.alls")
        >>> s.check_pins_allowed("disabled", flag=False)
        Traceback (most recent call last):
        ...
        partitioner.errors.ModelScriptError: n.alls:3: context_1 pins layers to a second
        context, but line 1 disables context switching (context_switch_param(mode=disabled));
        remove the pins after context_0 or allow context switching
        >>> s.check_pins_allowed("allowed", flag=True)   # --context-switch allowed wins

        Raises:
            ModelScriptError: ``mode`` is ``disabled`` and the script pins ``context_1`` or
                later; the message names both lines (or the flag).
        """
        if mode != "disabled" or len(self.pinned) < 2:
            return
        if flag or self.context_switch_line is None:
            where = "--context-switch disabled disables context switching"
        else:
            where = (
                f"line {self.context_switch_line} disables context switching "
                "(context_switch_param(mode=disabled))"
            )
        raise _script_error(
            self.source,
            self.pinned_lines[1],
            f"context_1 pins layers to a second context, but {where}",
            "remove the pins after context_0 or allow context switching",
        )

    def precision_rules_matched(self, layer_names: Iterable[str]) -> tuple[PrecisionRule, ...]:
        """Each ``quantization_param`` pattern with the number of layers it matches (a glob
        that matches none is worth a warning: the rule does nothing).

        >>> s = parse_model_script("quantization_param({conv*, fc}, precision_mode=a8_w4)\\n"
        ...                        "quantization_param(head*, precision_mode=a16_w16)")
        >>> [r.message for r in s.precision_rules_matched(["conv1", "conv2", "fc"])]
        ['line 1: quantization_param(conv*) matches 2 layers', \
'line 1: quantization_param(fc) matches 1 layer', \
'line 2: quantization_param(head*) matches no layer; check the pattern against the names \
`ctxfit profile MODEL` prints']
        """
        names = tuple(layer_names)
        return tuple(
            PrecisionRule(
                pattern=pattern,
                mode=mode,
                line=line,
                matched=sum(1 for name in names if layer_matches(pattern, name)),
            )
            for (pattern, mode), line in zip(self.precision, self.precision_lines, strict=True)
        )


@dataclass(frozen=True, kw_only=True)
class PrecisionRule:
    """One ``quantization_param`` pattern and how many layers of the network it matches."""

    pattern: str
    mode: Precision
    line: int
    matched: int

    @property
    def message(self) -> str:
        """A one-line note for the log (a warning when it matches nothing)."""
        where = f"line {self.line}: quantization_param({self.pattern})"
        if self.matched == 0:
            return (
                f"{where} matches no layer; check the pattern against the names "
                "`ctxfit profile MODEL` prints"
            )
        return f"{where} matches {self.matched} layer{'' if self.matched == 1 else 's'}"


def layer_matches(pattern: str, layer_name: str) -> bool:
    """True when a script's layer pattern names ``layer_name``.

    The pattern is a glob (``*``, ``?``, ``[...]``); a pattern with a network-name scope
    (``yolov8n/conv*``) also matches without it.

    >>> layer_matches("yolov8n/conv1", "conv1"), layer_matches("conv*", "conv12")
    (True, True)
    >>> layer_matches("/model.0/conv/Conv", "/model.0/conv/Conv"), layer_matches("conv1", "conv12")
    (True, False)
    """
    if fnmatchcase(layer_name, pattern):
        return True
    scope, sep, rest = pattern.partition("/")
    return bool(sep) and bool(scope) and fnmatchcase(layer_name, rest)


def parse_model_script(text: str, *, source: str = "<script>") -> ModelScript:
    """Parse the text of a model script into a :class:`ModelScript`.

    ``source`` names the script in error messages (a path, or ``<script>``).

    Raises:
        ModelScriptError: a malformed line (unbalanced brackets, a stray token, an unterminated
            string), a bad value (a cap that is not a number, <= 0 or above 2.0; a batch outside
            1..63; an unknown precision or context-switch mode; a timeout like ``20x``), an
            unknown keyword (see the module docstring), or a pinned partition whose indices have
            a gap or that pins a layer twice. The message starts with ``"{source}:{line}: "``.
    """
    builder = _Builder(source=source)
    for line_number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        where = _Where(source=source, line=line_number)
        tokens = _tokenize(raw.rstrip("\r"), where)
        if tokens:
            _check_brackets(tokens, where)
            _dispatch(_Parser(tokens, where).statement(), builder)
    return builder.build()


def read_model_script(path: str | Path) -> ModelScript:
    """Read and parse a model script file (UTF-8).

    Raises:
        ModelScriptError: the file is missing, unreadable or not UTF-8 text (the message names
            the path), or any error of :func:`parse_model_script`.
    """
    path = Path(path)
    try:
        regular = path.is_file()  # a FIFO would block, a device never end
        exists = regular or path.exists()
    except (OSError, ValueError):
        regular = exists = False
    if exists and not regular:
        raise ModelScriptError(
            f"model script {str(path)!r} is not a regular file (a directory, a FIFO or a "
            "device); give an .alls file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ModelScriptError(
            f"model script {str(path)!r} does not exist; check the path given to --script"
        ) from err
    except (OSError, UnicodeDecodeError) as err:
        raise ModelScriptError(
            f"cannot read model script {str(path)!r} ({err}); give a readable UTF-8 .alls file"
        ) from err
    return parse_model_script(text, source=str(path))


def emit_partition_script(contexts: Sequence[Sequence[str]], *, header: str | None = None) -> str:
    """Write a partition as ``context_N = context([...])`` lines that :func:`parse_model_script`
    reads back to the same contexts.

    ``header`` becomes ``#`` comment lines on top. Names that are not bare words (they hold
    spaces, brackets, commas, quotes or ``#``) are written as quoted strings.

    >>> print(emit_partition_script([["a", "b c"], ["net/d.0"]], header="ctxfit"), end="")
    # ctxfit
    context_0 = context([a, "b c"])
    context_1 = context([net/d.0])

    Raises:
        ModelScriptError: no context, an empty context, a context given as one string, a layer
            in two contexts, or a name that is empty or holds a line break.
    """
    if not contexts:
        raise ModelScriptError("cannot emit a partition with no context; give at least one")
    lines = [f"# {line}".rstrip() for line in header.split("\n")] if header is not None else []
    seen: dict[str, int] = {}
    for index, layers in enumerate(contexts):
        _check_emittable_context(index, layers, seen)
        names = ", ".join(_emit_name(name) for name in layers)
        lines.append(f"context_{index} = context([{names}])")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, kw_only=True)
class ScriptSettings:
    """The settings a compile ran with, as model-script commands (see
    :func:`emit_settings_lines`). ``None`` / empty leaves a command out.

    Attributes:
        caps: ``resources_param`` caps the user set (explicit caps only: the compiler's own
            defaults are not a ``resources_param`` line, they change with the flow).
        optimization_level: ``performance_param(compiler_optimization_level=...)``.
        context_switch: ``context_switch_param(mode=...)``.
        compression_level: ``model_optimization_flavor(compression_level=...)``.
        precision: ``(layer name, mode)`` per layer, one ``quantization_param`` line per mode;
            names are matched literally (glob characters escaped).
        optimize_for_batch, target_fps: ``performance_param`` keywords.
        timeout_s: ``allocator_param(timeout=...)``.
        comments: ``#`` lines above the commands.
    """

    caps: CapOverrides = field(default_factory=CapOverrides)
    optimization_level: str | None = None
    context_switch: str | None = None
    compression_level: int | None = None
    precision: tuple[tuple[str, Precision], ...] = ()
    optimize_for_batch: int | None = None
    target_fps: float | None = None
    timeout_s: float | None = None
    comments: tuple[str, ...] = ()


def emit_settings_lines(settings: ScriptSettings) -> list[str]:
    """The commands of ``settings``, one per line, that :func:`parse_model_script` reads back
    to the same values.

    >>> lines = emit_settings_lines(ScriptSettings(
    ...     caps=CapOverrides(control=0.8), compression_level=0, optimize_for_batch=8,
    ...     precision=(("conv1", Precision.A8_W4), ("x[0]", Precision.A8_W4)), timeout_s=30.0))
    >>> print("\\n".join(lines))
    model_optimization_flavor(compression_level=0)
    quantization_param([conv1, "x[[]0]"], precision_mode=a8_w4)
    resources_param(max_control_utilization=0.8)
    performance_param(optimize_for_batch=8)
    allocator_param(timeout=30s)
    >>> s = parse_model_script("\\n".join(lines))
    >>> s.caps.control, s.precision_of("x[0]"), s.precision_of("x0"), s.timeout_s
    (0.8, <Precision.A8_W4: 'a8_w4'>, None, 30.0)
    """
    lines = [f"# {line}".rstrip() for line in settings.comments]
    if settings.compression_level is not None:
        lines.append(f"model_optimization_flavor(compression_level={settings.compression_level})")
    by_mode: dict[Precision, list[str]] = {}
    for name, mode in settings.precision:
        by_mode.setdefault(mode, []).append(_emit_name(literal_pattern(name)))
    for mode, names in by_mode.items():
        lines.append(f"quantization_param([{', '.join(names)}], precision_mode={mode.value})")
    caps = settings.caps.as_dict()
    if caps:
        keyword = {v: k for k, v in _CAP_KEYWORDS.items()}
        lines.append(
            "resources_param("
            + ", ".join(f"{keyword[name]}={_exact(value)}" for name, value in caps.items())
            + ")"
        )
    if settings.optimization_level is not None:
        lines.append(
            f"performance_param(compiler_optimization_level={settings.optimization_level})"
        )
    if settings.context_switch is not None:
        lines.append(f"context_switch_param(mode={settings.context_switch})")
    if settings.optimize_for_batch is not None:
        lines.append(f"performance_param(optimize_for_batch={settings.optimize_for_batch})")
    if settings.target_fps is not None:
        lines.append(f"performance_param(fps={_exact(settings.target_fps)})")
    if settings.timeout_s is not None:
        lines.append(f"allocator_param(timeout={_exact(settings.timeout_s)}s)")
    return lines


def _exact(value: float) -> str:
    """The shortest text that reads back to exactly ``value`` (a cap of 0.7500000000000001 is
    not 0.75: x 128 LCUs it allows 97, not 96).

    >>> _exact(0.8), _exact(30.0), _exact(0.8500000000000005)
    ('0.8', '30', '0.8500000000000005')
    """
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def literal_pattern(name: str) -> str:
    """``name`` as a glob that matches only itself (``*``, ``?`` and ``[`` in brackets)."""
    return "".join(f"[{c}]" if c in _GLOB_CHARS else c for c in name)


def check_emittable(layer_names: Iterable[str]) -> None:
    """Raise before a long compile when ``--emit-script`` could not write a layer's name.

    >>> check_emittable(["conv1", "a b"])
    >>> check_emittable(["new\\nline"])
    Traceback (most recent call last):
    ...
    partitioner.errors.ModelScriptError: layer name 'new\\nline' cannot be written to a model
    script (--emit-script); a name must be non-empty and on one line
    >>> check_emittable(["esc\\x1b[0m"])
    Traceback (most recent call last):
    ...
    partitioner.errors.ModelScriptError: layer name 'esc\\x1b[0m' cannot be written to a model
    script (--emit-script): it holds a control character, or bytes that are not UTF-8 in the
    model file, which the compiler would not match; rename the node in the model
    """
    for name in layer_names:
        if not isinstance(name, str) or not name or "\n" in name or "\r" in name:
            raise ModelScriptError(
                f"layer name {name!r} cannot be written to a model script (--emit-script); "
                "a name must be non-empty and on one line"
            )
        if "\ufffd" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise ModelScriptError(
                f"layer name {name!r} cannot be written to a model script (--emit-script): it "
                "holds a control character, or bytes that are not UTF-8 in the model file, "
                "which the compiler would not match; rename the node in the model"
            )


def parse_duration_s(text: str) -> float | None:
    """Seconds in a timeout: ``600`` (seconds), ``600s``, ``20m``, ``1h``, ``1h30m``; None if
    ``text`` is not one.

    >>> parse_duration_s("600"), parse_duration_s("20m"), parse_duration_s("1h30m")
    (600.0, 1200.0, 5400.0)
    >>> parse_duration_s("20x") is None, parse_duration_s("") is None
    (True, True)
    """
    if len(text) > MAX_DIGITS:
        return None
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text, re.ASCII):
        return float(text)
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600.0 + minutes * 60.0 + seconds


# --------------------------------------------------------------------------------------------
# Tokens and syntax
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Where:
    source: str
    line: int


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "str", or one of _SEPARATORS
    text: str
    column: int  # 1-based


@dataclass(frozen=True)
class _Word:
    text: str


@dataclass(frozen=True)
class _Str:
    text: str


@dataclass(frozen=True)
class _Seq:
    items: tuple[_Value, ...]
    opener: str  # "[" or "{"


_Value = _Word | _Str | _Seq


@dataclass(frozen=True)
class _Statement:
    where: _Where
    targets: tuple[str, ...]
    name: str
    args: tuple[_Value, ...]
    kwargs: tuple[tuple[str, _Value], ...]


def _script_error(source: str, line: int, what: str, fix: str) -> ModelScriptError:
    return ModelScriptError(f"{source}:{line}: {what}; {fix}")


def _fail(where: _Where, what: str, fix: str) -> ModelScriptError:
    return _script_error(where.source, where.line, what, fix)


def _tokenize(line: str, where: _Where) -> list[_Token]:
    """Split one line into words, strings and separators; ``#`` outside a string ends it."""
    tokens: list[_Token] = []
    i = 0
    while i < len(line):
        char = line[i]
        if char.isspace():
            i += 1
        elif char == "#":
            break
        elif char in _SEPARATORS:
            tokens.append(_Token(char, char, i + 1))
            i += 1
        elif char in "\"'":
            text, i_next = _read_string(line, i, where)
            tokens.append(_Token("str", text, i + 1))
            i = i_next
        else:
            match = _BARE_WORD.match(line, i)
            if match is None:
                raise _fail(where, f"unexpected {char!r} at column {i + 1}", "remove it")
            tokens.append(_Token("word", match.group(), i + 1))
            i = match.end()
    return tokens


def _read_string(line: str, start: int, where: _Where) -> tuple[str, int]:
    """The text of the quoted string at ``start`` (``\\`` escapes the next character)."""
    quote, chars, i = line[start], [], start + 1
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            chars.append(line[i + 1])
            i += 2
        elif line[i] == quote:
            return "".join(chars), i + 1
        else:
            chars.append(line[i])
            i += 1
    raise _fail(
        where, f"unterminated string starting at column {start + 1}", f"close it with {quote}"
    )


def _check_brackets(tokens: list[_Token], where: _Where) -> None:
    """Raise on a closing bracket with no opener, a mismatched pair, or an unclosed opener."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[_Token] = []
    for token in tokens:
        if token.kind in "([{":
            stack.append(token)
            if len(stack) > MAX_NESTING:
                raise _fail(
                    where,
                    f"brackets nested more than {MAX_NESTING} deep at column {token.column}",
                    "write one flat list of layer names",
                )
        elif token.kind in pairs:
            if not stack:
                raise _fail(
                    where,
                    f"unbalanced brackets: {token.kind!r} at column {token.column} closes nothing",
                    "remove it or add the matching opening bracket",
                )
            opener = stack.pop()
            if pairs[token.kind] != opener.kind:
                raise _fail(
                    where,
                    f"unbalanced brackets: {opener.kind!r} at column {opener.column} is closed "
                    f"by {token.kind!r} at column {token.column}",
                    "close each bracket with its match: (), [], {}",
                )
    if stack:
        opener = stack[-1]
        raise _fail(
            where,
            f"unbalanced brackets: {opener.kind!r} at column {opener.column} is never closed",
            "close it on the same line (a command is one line)",
        )


class _Parser:
    """Recursive descent over the tokens of one line (brackets already balanced)."""

    def __init__(self, tokens: list[_Token], where: _Where) -> None:
        self.tokens = tokens
        self.where = where
        self.pos = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str, expected: str) -> _Token:
        token = self.peek()
        if token is None or token.kind != kind:
            found = "the end of the line" if token is None else f"{token.text!r}"
            column = "" if token is None else f" at column {token.column}"
            raise _fail(
                self.where,
                f"expected {expected}, found {found}{column}",
                "write a command like name(key=value, ...) or target = name(...)",
            )
        self.pos += 1
        return token

    def statement(self) -> _Statement:
        """``target[, target...] = name(args)`` or ``name(args)``, then nothing."""
        targets: list[str] = []
        first = self.take("word", "a command name")
        nxt = self.peek()
        if nxt is not None and nxt.kind in ",=":
            targets.append(first.text)
            while self.peek() is not None and self.peek().kind == ",":
                self.pos += 1
                targets.append(self.take("word", "a name to assign to").text)
            self.take("=", "'='")
            first = self.take("word", "a command name after '='")
        self.take("(", f"'(' after {first.text!r}")
        args, kwargs = self.arguments()
        self.take(")", "')'")
        trailing = self.peek()
        if trailing is not None:
            raise _fail(
                self.where,
                f"unexpected {trailing.text!r} at column {trailing.column} after the command",
                "write one command per line",
            )
        return _Statement(self.where, tuple(targets), first.text, args, kwargs)

    def arguments(self) -> tuple[tuple[_Value, ...], tuple[tuple[str, _Value], ...]]:
        args: list[_Value] = []
        kwargs: dict[str, _Value] = {}
        while self.peek() is not None and self.peek().kind != ")":
            token = self.peek()
            after = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
            if token.kind == "word" and after is not None and after.kind == "=":
                self.pos += 2
                if token.text in kwargs:
                    raise _fail(
                        self.where, f"keyword {token.text!r} is given twice", "keep one of them"
                    )
                kwargs[token.text] = self.value()
            else:
                args.append(self.value())
            if self.peek() is not None and self.peek().kind == ",":
                self.pos += 1
            elif self.peek() is not None and self.peek().kind != ")":
                self.take(",", "',' between arguments")
        return tuple(args), tuple(kwargs.items())

    def value(self) -> _Value:
        token = self.peek()
        if token is not None and token.kind in "[{":
            self.pos += 1
            closer = "]" if token.kind == "[" else "}"
            items: list[_Value] = []
            while self.peek() is not None and self.peek().kind != closer:
                items.append(self.value())
                if self.peek() is not None and self.peek().kind != closer:
                    self.take(",", f"',' or {closer!r}")
            self.take(closer, repr(closer))
            return _Seq(tuple(items), token.kind)
        if token is not None and token.kind == "str":
            self.pos += 1
            return _Str(token.text)
        return _Word(self.take("word", "a value").text)


def _show(value: _Value) -> str:
    """A value as the script wrote it (for messages)."""
    if isinstance(value, _Word):
        return value.text
    if isinstance(value, _Str):
        return repr(value.text)
    closer = "]" if value.opener == "[" else "}"
    return value.opener + ", ".join(_show(item) for item in value.items) + closer


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def _word(stmt: _Statement, key: str, value: _Value, fix: str) -> str:
    if not isinstance(value, _Word):
        shown = _short(_show(value))
        raise _fail(stmt.where, f"{stmt.name}: {key}={shown} is not a single value", fix)
    return value.text


def _fraction(stmt: _Statement, key: str, value: _Value) -> float:
    """A cap: ``0.8`` or ``80%`` (ASCII digits), as a fraction; range is checked by the caller."""
    fix = "write a fraction like 0.8 or a percentage like 80%"
    text = _word(stmt, key, value, fix)
    number = parse_fraction(text)
    if number is None:
        raise _fail(stmt.where, f"{stmt.name}: {key}={_short(text)} is not a number", fix)
    return number


def _short(text: str) -> str:
    """A value for a message: at most 60 characters of it."""
    return text if len(text) <= 60 else f"{text[:60]}... ({len(text)} characters)"


def _integer(stmt: _Statement, key: str, value: _Value, low: int, high: int) -> int:
    fix = f"write a whole number from {low} to {high}"
    text = _word(stmt, key, value, fix)
    number = parse_integer(text)
    if number is None:
        raise _fail(stmt.where, f"{stmt.name}: {key}={_short(text)} is not a whole number", fix)
    if not low <= number <= high:
        raise _fail(
            stmt.where, f"{stmt.name}: {key}={_short(str(number))} is outside {low}..{high}", fix
        )
    return number


def _choice(stmt: _Statement, key: str, value: _Value, choices: Sequence[str]) -> str:
    fix = "write one of " + ", ".join(choices)
    text = _word(stmt, key, value, fix)
    if text not in choices:
        raise _fail(stmt.where, f"{stmt.name}: {key}={text} is not a known value", fix)
    return text


def _names(stmt: _Statement, what: str, value: _Value) -> tuple[str, ...]:
    """Layer names from a name, a quoted name, or a list / set of them."""
    items = value.items if isinstance(value, _Seq) else (value,)
    names = []
    for item in items:
        if isinstance(item, _Seq):
            raise _fail(
                stmt.where,
                f"{stmt.name}: {what} {_show(item)} is a nested list",
                "write one flat list of layer names",
            )
        names.append(item.text)
    return tuple(names)


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


@dataclass
class _Builder:
    """Accumulates the effect of each command, in script order; :meth:`build` validates."""

    source: str
    caps: dict[str, float] = field(default_factory=dict)
    context_switch: ContextSwitchMode = "allowed"
    context_switch_line: int | None = None
    timeout_s: float | None = None
    optimize_for_batch: int | None = None
    target_fps: float | None = None
    optimization_level: str | int | None = None
    compression_level: int | None = None
    flavor_optimization_level: int | None = None
    precision: list[tuple[str, Precision, int]] = field(default_factory=list)
    pinned: dict[int, tuple[tuple[str, ...], int]] = field(default_factory=dict)
    pinned_layer: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    warned: set[str] = field(default_factory=set)

    def warn_once(self, key: str, message: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            self.warnings.append(message)

    def build(self) -> ModelScript:
        indices = sorted(self.pinned)
        for expected, index in enumerate(indices):
            if index != expected:
                raise _script_error(
                    self.source,
                    self.pinned[index][1],
                    f"context_{index} is defined but context_{expected} is not",
                    "number pinned contexts 0, 1, 2, ... without gaps",
                )
        return ModelScript(
            source=self.source,
            caps=CapOverrides(**self.caps),
            context_switch=self.context_switch,
            context_switch_line=self.context_switch_line,
            timeout_s=self.timeout_s,
            optimize_for_batch=self.optimize_for_batch,
            target_fps=self.target_fps,
            optimization_level=self.optimization_level,
            compression_level=self.compression_level,
            flavor_optimization_level=self.flavor_optimization_level,
            precision=tuple((pattern, mode) for pattern, mode, _ in self.precision),
            precision_lines=tuple(line for _, _, line in self.precision),
            pinned=tuple(self.pinned[i][0] for i in indices),
            pinned_lines=tuple(self.pinned[i][1] for i in indices),
            warnings=tuple(self.warnings),
        )


@dataclass(frozen=True)
class _CommandSpec:
    read: frozenset[str]  # keywords ctxfit reads
    known: frozenset[str]  # published keywords ctxfit does not model (ignored with a warning)
    closed: bool  # True: any other keyword is an error
    apply: Callable[[_Statement, _Builder], None]
    positional: int  # how many positional arguments the command takes


def _apply_resources(stmt: _Statement, b: _Builder) -> None:
    values = dict(stmt.kwargs)
    caps: dict[str, float] = {}
    if "max_utilization" in values:
        overall = _fraction(stmt, "max_utilization", values["max_utilization"])
        if overall != 0 and not CAP.contains(overall):
            raise _cap_range_error(stmt, "max_utilization", values["max_utilization"])
        if overall > 0:  # the Model Zoo writes max_utilization=0.0 next to per-resource caps
            caps = dict.fromkeys(_CAP_KEYWORDS.values(), overall)
    for key, resource in _CAP_KEYWORDS.items():
        if key in values:
            caps[resource] = _fraction(stmt, key, values[key])
            if not CAP.contains(caps[resource]):
                raise _cap_range_error(stmt, key, values[key])
    _note_caps(stmt, b, caps, explicit_16bit="max_compute_16bit_utilization" in values)
    b.caps.update(caps)


def _cap_range_error(stmt: _Statement, key: str, value: _Value) -> ModelScriptError:
    allowed = f"{CAP.low:g}..{CAP.high:g} ({CAP.low:.0%} to {CAP.high:.0%})"
    if key == "max_utilization":
        allowed = f"0 (not set) or {allowed}"
    return _fail(
        stmt.where,
        f"{stmt.name}: {key}={_short(_show(value))} is outside {allowed}",
        "write a fraction like 0.8 or a percentage like 80%; caps above 1 let a context use "
        "more than the nominal total, as the compiler's 142/154 LCUs",
    )


def _note_caps(stmt: _Statement, b: _Builder, caps: dict[str, float], explicit_16bit: bool) -> None:
    """Warn (once) that the 16-bit cap is not modelled, and on caps above 100% but control's."""
    line = stmt.where.line
    if explicit_16bit:
        b.warn_once(
            "cap:compute_16bit",
            f"line {line}: max_compute_16bit_utilization is stored but not modelled "
            "(ctxfit has no separate 16-bit compute resource)",
        )
    over = {r: cap for r, cap in caps.items() if r not in ("control", "compute_16bit") and cap > 1}
    if over:
        listed = ", ".join(f"{resource}={cap:g}" for resource, cap in over.items())
        b.warn_once(
            f"cap>1:{listed}",
            f"line {line}: caps above 100% let one context use more than the chip has: {listed}",
        )


def _apply_context_switch(stmt: _Statement, b: _Builder) -> None:
    values = dict(stmt.kwargs)
    if "mode" in values:
        mode = _choice(stmt, "mode", values["mode"], CONTEXT_SWITCH_MODES)
        b.context_switch = next(m for m in CONTEXT_SWITCH_MODES if m == mode)
        b.context_switch_line = stmt.where.line


def _apply_allocator(stmt: _Statement, b: _Builder) -> None:
    values = dict(stmt.kwargs)
    if "timeout" in values:
        fix = "write seconds (600) or a duration like 600s, 20m, 1h, 1h30m"
        text = _word(stmt, "timeout", values["timeout"], fix)
        seconds = parse_duration_s(text)
        if seconds is None:
            raise _fail(stmt.where, f"{stmt.name}: timeout={_short(text)} is not a duration", fix)
        if not TIMEOUT_S.contains(seconds):
            raise _fail(
                stmt.where,
                f"{stmt.name}: timeout={_short(text)} is {seconds:g} s, outside "
                f"{TIMEOUT_S.low:g}..{TIMEOUT_S.high:g} s (one day)",
                fix,
            )
        b.timeout_s = seconds


def _apply_performance(stmt: _Statement, b: _Builder) -> None:
    values = dict(stmt.kwargs)
    # the Model Zoo also writes performance_param(optimization_level=...) for the same setting
    for key in ("compiler_optimization_level", "optimization_level"):
        if key not in values:
            continue
        level = _choice(stmt, key, values[key], OPTIMIZATION_LEVELS)
        b.optimization_level = level if level == "max" else int(level)
    if "optimize_for_batch" in values:
        key = "optimize_for_batch"
        b.optimize_for_batch = _integer(stmt, key, values[key], 1, MAX_BATCH)
    if "fps" in values:
        fix = "write a frame rate like 150"
        text = _word(stmt, "fps", values["fps"], fix)
        fps = parse_number(text)
        if fps is None:
            raise _fail(stmt.where, f"{stmt.name}: fps={_short(text)} is not a number", fix)
        problem = FPS.problem(fps)
        if problem is not None:
            raise _fail(stmt.where, f"{stmt.name}: fps={_short(text)} {problem}", fix)
        b.target_fps = fps


def _apply_flavor(stmt: _Statement, b: _Builder) -> None:
    values = dict(stmt.kwargs)
    if "compression_level" in values:
        key = "compression_level"
        b.compression_level = _integer(stmt, key, values[key], 0, MAX_COMPRESSION_LEVEL)
    if "optimization_level" in values:
        key = "optimization_level"
        b.flavor_optimization_level = _integer(stmt, key, values[key], 0, MAX_FLAVOR_LEVEL)


def _apply_quantization(stmt: _Statement, b: _Builder) -> None:
    values = dict(stmt.kwargs)
    if "precision_mode" not in values:
        return
    modes = [p.value for p in Precision]
    mode = Precision(_choice(stmt, "precision_mode", values["precision_mode"], modes))
    for pattern in _names(stmt, "layers", stmt.args[0]):
        b.precision.append((pattern, mode, stmt.where.line))


def _apply_context(stmt: _Statement, b: _Builder) -> None:
    index = _context_index(stmt)
    layers = _names(stmt, "layers", stmt.args[0])
    if not layers:
        raise _fail(stmt.where, f"context_{index} pins no layer", "list at least one layer")
    if index in b.pinned:
        first = b.pinned[index][1]
        raise _fail(
            stmt.where,
            f"context_{index} is defined twice (first on line {first})",
            "define each context once",
        )
    for name in layers:
        if name in b.pinned_layer:
            raise _fail(
                stmt.where,
                f"layer {name!r} is pinned to context_{b.pinned_layer[name]} and to "
                f"context_{index}",
                "pin each layer to one context",
            )
        b.pinned_layer[name] = index
    b.pinned[index] = (layers, stmt.where.line)


def _context_index(stmt: _Statement) -> int:
    fix = "write context_N = context([layer, ...]) with N = 0, 1, 2, ..."
    if len(stmt.targets) != 1:
        raise _fail(stmt.where, "context(...) must be assigned to one context_N", fix)
    match = _CONTEXT_TARGET.fullmatch(stmt.targets[0])
    if match is None:
        raise _fail(stmt.where, f"context(...) is assigned to {stmt.targets[0]!r}", fix)
    if not isinstance(stmt.args[0], _Seq) or stmt.args[0].opener != "[":
        raise _fail(stmt.where, f"context({_show(stmt.args[0])}) is not a list of layers", fix)
    return int(match.group(1))


_COMMANDS: dict[str, _CommandSpec] = {
    "resources_param": _CommandSpec(
        read=frozenset({"max_utilization", *_CAP_KEYWORDS}),
        known=frozenset({"strategy"}),
        closed=True,
        apply=_apply_resources,
        positional=0,
    ),
    "context_switch_param": _CommandSpec(
        read=frozenset({"mode"}),
        known=frozenset(
            {
                "allow_auto_merge_in_multicontext",
                "auto_partition_to_buckets",
                "berkitizer_bucket_size",
                "berkitizer_min_size",
                "buckets_equality_threshold",
                "slotter_chances",
                "toposort_mode",
            }
        ),
        closed=False,
        apply=_apply_context_switch,
        positional=0,
    ),
    "allocator_param": _CommandSpec(
        read=frozenset({"timeout"}),
        known=frozenset(
            {
                "automatic_ddr",
                "automatic_l4_portals",
                "automatic_reshapes",
                "cluster_timeout",
                "compilation_num_threads",
                "disable_row_per_cut",
                "enable_fixer",
                "enable_lcu_ecc",
                "enable_muxer",
                "enable_partial_row_buffers",
                "num_of_workers",
                "spatial_defuse_legacy",
                "splitter_timeout",
                "width_splitter_defuse",
            }
        ),
        closed=False,
        apply=_apply_allocator,
        positional=0,
    ),
    "performance_param": _CommandSpec(
        read=frozenset(
            {"compiler_optimization_level", "optimization_level", "optimize_for_batch", "fps"}
        ),
        known=frozenset({"optimize_for_power"}),
        closed=False,
        apply=_apply_performance,
        positional=0,
    ),
    "model_optimization_flavor": _CommandSpec(
        read=frozenset({"compression_level", "optimization_level"}),
        known=frozenset({"batch_size"}),
        closed=False,
        apply=_apply_flavor,
        positional=0,
    ),
    "quantization_param": _CommandSpec(
        read=frozenset({"precision_mode"}),
        known=frozenset({"bias_mode", "max_elementwise_feed_repeat"}),
        closed=False,
        apply=_apply_quantization,
        positional=1,
    ),
    "context": _CommandSpec(
        read=frozenset(), known=frozenset(), closed=True, apply=_apply_context, positional=1
    ),
}


def _dispatch(stmt: _Statement, b: _Builder) -> None:
    """Apply one statement: a modelled command, or a warning for any other."""
    spec = _COMMANDS.get(stmt.name)
    if spec is None:
        b.warn_once(
            f"command:{stmt.name}",
            f"line {stmt.where.line}: ignoring unsupported command {stmt.name!r} "
            "(ctxfit does not model it)",
        )
        return
    if stmt.targets and stmt.name != "context":
        raise _fail(
            stmt.where,
            f"{stmt.name}(...) is assigned to {', '.join(stmt.targets)}",
            f"remove '{', '.join(stmt.targets)} =': {stmt.name} returns nothing",
        )
    _check_positional(stmt, spec)
    ignored = [key for key, _ in stmt.kwargs if not _keyword_is_read(stmt, spec, key)]
    known = [key for key in ignored if key in spec.known]
    unknown = [key for key in ignored if key not in spec.known]
    _warn_ignored(stmt, b, known, "ctxfit does not model {it}")
    _warn_ignored(stmt, b, unknown, "ctxfit does not know {it}; check the spelling")
    spec.apply(stmt, b)


def _check_positional(stmt: _Statement, spec: _CommandSpec) -> None:
    if len(stmt.args) == spec.positional:
        return
    if spec.positional == 0:
        got = ", ".join(_show(a) for a in stmt.args)
        raise _fail(
            stmt.where,
            f"{stmt.name} takes keywords only, got {got}",
            f"write {stmt.name}(key=value, ...)",
        )
    shape = f"{stmt.name}([layer, ...], key=value)"
    if stmt.name == "context":
        shape = "context_N = context([layer, ...])"
    raise _fail(
        stmt.where,
        f"{stmt.name} takes one list of layers, got {len(stmt.args)} positional arguments",
        f"write {shape}",
    )


def _keyword_is_read(stmt: _Statement, spec: _CommandSpec, key: str) -> bool:
    """True for a keyword ctxfit reads, False for one it ignores; raise for a bad one.

    An unknown keyword is an error when the command's keywords are closed (``resources_param``)
    or when it looks like a misspelling of a keyword ctxfit reads.
    """
    if key in spec.read:
        return True
    if key in spec.known:
        return False
    close = difflib.get_close_matches(key, sorted(spec.read), n=1, cutoff=NEAR_MISS_RATIO)
    if close or spec.closed:
        hint = f"did you mean {close[0]!r}? " if close else ""
        accepted = ", ".join(sorted(spec.read | spec.known)) or "no keyword"
        raise _fail(
            stmt.where,
            f"{stmt.name}: unknown keyword {key!r}",
            f"{hint}{stmt.name} accepts {accepted}",
        )
    return False


def _warn_ignored(stmt: _Statement, b: _Builder, keys: list[str], why: str) -> None:
    """One warning for the keywords of one command line not warned about before."""
    fresh = [key for key in keys if f"keyword:{stmt.name}.{key}" not in b.warned]
    if not fresh:
        return
    b.warned.update(f"keyword:{stmt.name}.{key}" for key in fresh)
    listed = ", ".join(f"{key}=..." for key in fresh)
    why = why.format(it="it" if len(fresh) == 1 else "them")
    b.warnings.append(f"line {stmt.where.line}: ignoring {stmt.name}({listed}) ({why})")


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


def _is_glob(pattern: str) -> bool:
    return any(char in pattern for char in _GLOB_CHARS)


def _resolve_name(pinned_name: str, known: set[str]) -> str | None:
    if pinned_name in known:
        return pinned_name
    scope, sep, rest = pinned_name.partition("/")
    return rest if sep and scope and rest in known else None


def _unknown_layer_error(
    source: str, line: int, what: str, name: str, names: Sequence[str]
) -> ModelScriptError:
    close = difflib.get_close_matches(name.rpartition("/")[2], names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return _script_error(
        source,
        line,
        f"{what}: the network has no layer {name!r}",
        f"{hint}use the layer names ctxfit prints (ctxfit profile MODEL)",
    )


def _emit_name(name: str) -> str:
    if _BARE_WORD.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_emittable_context(index: int, layers: Sequence[str], seen: dict[str, int]) -> None:
    if isinstance(layers, str):
        raise ModelScriptError(
            f"context {index} is the string {layers!r}; give each context as a list of names"
        )
    if not layers:
        raise ModelScriptError(f"context {index} has no layer; drop empty contexts")
    for name in layers:
        if not isinstance(name, str) or not name or "\n" in name or "\r" in name:
            raise ModelScriptError(
                f"context {index}: layer name {name!r} cannot be written to a script; "
                "use a non-empty name on one line"
            )
        if name in seen:
            raise ModelScriptError(
                f"layer {name!r} is in context {seen[name]} and context {index}; "
                "put each layer in one context"
            )
        seen[name] = index
