"""The accelerator and its host link: the ``hailo8`` and ``hailo8l`` presets and TOML files.

A :class:`HardwareSpec` holds the chip's resource totals (HAILO.md section 1), the host link, and
the cost model's calibrated parameters (see :mod:`cost_model.params`). Any other part or link is
described in a TOML file, which may start from a preset and override keys::

    base = "hailo8l"
    name = "hailo8l-rpi5"
    [link]
    generation = 3
    lanes = 1

>>> hw = preset("hailo8")
>>> hw.totals()
Resources(lcus=128, subclusters=512, l3_cuts=1024, apus=160, input_aligners=256)
>>> round(hw.link.bytes_per_s / 1e9, 3)      # Gen3 x4 at 90% payload efficiency
3.545
>>> round(hw.peak_macs_per_s / 1e12, 1)      # 512 SCs x 64 MAC x 400 MHz
13.1
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NoReturn

from cost_model import params
from cost_model.errors import HardwareSpecError
from cost_model.layer import OpKind
from cost_model.ranges import HARDWARE_RANGES, MAX_CLUSTER_ID, OPTIONAL_COUNT, whole
from cost_model.resources import Resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

# Payload bytes per second of one lane before protocol overhead, by PCIe generation:
# Gen1 2.5 GT/s and Gen2 5 GT/s with 8b/10b coding, Gen3+ with 128b/130b (8, 16, 32 GT/s).
PCIE_LANE_RAW_BYTES_PER_S: dict[int, float] = {
    1: 2.5e9 * 8 / 10 / 8,  # 250 MB/s
    2: 5.0e9 * 8 / 10 / 8,  # 500 MB/s
    3: 8.0e9 * 128 / 130 / 8,  # 984.6 MB/s
    4: 16.0e9 * 128 / 130 / 8,  # 1969 MB/s
    5: 32.0e9 * 128 / 130 / 8,  # 3938 MB/s
}
PCIE_LANES = (1, 2, 4, 8, 16)

HARDWARE_DIR = Path(__file__).with_name("hardware")

# -- power (cost_model/power.py): the constants and their sources are in cost_model/params.py ---
HAILO8_TYPICAL_POWER_W = params.HAILO8_TYPICAL_POWER_W
STATIC_POWER_SHARE = params.STATIC_POWER_SHARE
HAILO8L_TYPICAL_POWER_W = params.HAILO8L_TYPICAL_POWER_W


@dataclass(frozen=True, kw_only=True)
class PcieLink:
    """The host link: PCIe generation x lanes, and the share of the raw rate that carries data.

    ``measured_bytes_per_s``, when set, replaces the computed rate (a measured or assumed figure,
    e.g. the 4 GB/s that "stream all weights" estimates use).

    >>> round(PcieLink(generation=2, lanes=1).bytes_per_s / 1e9, 2)   # Raspberry Pi 5 default
    0.45
    >>> PcieLink(generation=3, lanes=4, measured_bytes_per_s=4e9).bytes_per_s
    4000000000.0
    """

    generation: int
    lanes: int
    efficiency: float = params.PCIE_EFFICIENCY
    measured_bytes_per_s: float | None = None

    def __post_init__(self) -> None:
        if self.generation not in PCIE_LANE_RAW_BYTES_PER_S:
            raise HardwareSpecError(
                f"PCIe generation {self.generation!r} is not known; "
                f"use one of {sorted(PCIE_LANE_RAW_BYTES_PER_S)}"
            )
        if self.lanes not in PCIE_LANES:
            raise HardwareSpecError(
                f"PCIe lane count {self.lanes!r} is not valid; use one of {list(PCIE_LANES)}"
            )
        for key, value in (
            ("efficiency", self.efficiency),
            ("bytes_per_s", self.measured_bytes_per_s),
        ):
            problem = None if value is None else HARDWARE_RANGES[f"link.{key}"].problem(value)
            if problem is not None:
                raise HardwareSpecError(f"link.{key} = {value!r} {problem}")

    @property
    def bytes_per_s(self) -> float:
        """Effective payload bandwidth in bytes per second (one direction)."""
        if self.measured_bytes_per_s is not None:
            return float(self.measured_bytes_per_s)
        return PCIE_LANE_RAW_BYTES_PER_S[self.generation] * self.lanes * self.efficiency

    @property
    def label(self) -> str:
        """``"PCIe Gen3 x4"``; with a measured rate, that rate too (two links of one generation
        and width can differ).

        >>> PcieLink(generation=3, lanes=4, measured_bytes_per_s=2e6).label
        'PCIe Gen3 x4 at 2 MB/s (measured)'
        """
        base = f"PCIe Gen{self.generation} x{self.lanes}"
        if self.measured_bytes_per_s is None:
            return base
        return f"{base} at {rate_text(self.measured_bytes_per_s)} (measured)"


def rate_text(bytes_per_s: float) -> str:
    """A link rate with three significant digits, in GB/s or MB/s.

    >>> rate_text(3.5446e9), rate_text(2e6), rate_text(4.5e8)
    ('3.54 GB/s', '2 MB/s', '450 MB/s')
    """
    if bytes_per_s >= 1e9:
        return f"{bytes_per_s / 1e9:.3g} GB/s"
    return f"{bytes_per_s / 1e6:.3g} MB/s"


@dataclass(frozen=True, kw_only=True)
class HardwareSpec:
    """One accelerator on one host link, plus the cost model's parameters for it.

    Totals are whole-chip counts; ``cluster_ids`` are the cluster numbers the compiler prints
    (Hailo-8L uses 4 of the 8 clusters: 0, 1, 4, 5). Parameters after ``pcie_pj_per_byte`` are
    the cost model's calibrated or assumed constants (documented in :mod:`cost_model.params`).
    """

    name: str
    clusters: int
    lcus_total: int
    subclusters_total: int
    l3_cuts_total: int
    l3_cut_bytes: int
    apus_total: int
    input_aligners_total: int
    l4_cuts_total: int
    edge_layers_per_context: int
    clock_hz: float
    macs_per_sc_per_cycle: int
    max_subclusters_per_node: int
    link: PcieLink
    # The link the compiler assumes when it chooses the partition (None: ``link``): the
    # partition depends on the chip, not on the host it runs on (see ``deciding``).
    compiler_link: PcieLink | None = None
    pcie_pj_per_byte: float = params.PCIE_PJ_PER_BYTE
    cluster_ids: tuple[int, ...] = ()
    # -- calibrated / assumed parameters -------------------------------------------------------
    compute_efficiency: float = params.COMPUTE_EFFICIENCY
    dwconv_efficiency: float = params.DWCONV_EFFICIENCY
    dwconv_kernel_exponent: float = params.DWCONV_KERNEL_EXPONENT
    matmul_efficiency: float = params.MATMUL_EFFICIENCY
    elements_per_sc_per_cycle: float = params.ELEMENTS_PER_SC_PER_CYCLE
    min_channels_per_node: int = params.MIN_CHANNELS_PER_NODE
    max_nodes_per_layer: int = params.MAX_NODES_PER_LAYER
    line_buffer_extra_rows: int = params.LINE_BUFFER_EXTRA_ROWS
    skip_buffers: bool = params.SKIP_BUFFERS
    lcus_per_node: int = params.LCUS_PER_NODE
    apus_per_node: int = params.APUS_PER_NODE
    input_aligners_per_node: int = params.INPUT_ALIGNERS_PER_NODE
    shortcut_nodes: int = params.SHORTCUT_NODES
    fused_ops: tuple[str, ...] = params.FUSED_OPS
    extra_nodes_by_op: tuple[tuple[str, int], ...] = params.EXTRA_NODES_BY_OP
    sc_cycles_per_row: float = params.SC_CYCLES_PER_ROW
    combiner_subclusters: int = params.COMBINER_SUBCLUSTERS
    shortcut_subclusters: int = params.SHORTCUT_SUBCLUSTERS
    config_bytes_per_node: int = params.CONFIG_BYTES_PER_NODE
    context_switch_overhead_s: float = params.CONTEXT_SWITCH_OVERHEAD_S
    pipeline_fill_frames: float = params.PIPELINE_FILL_FRAMES
    pcie_row_overhead_s: float = params.PCIE_ROW_OVERHEAD_S
    pcie_transfer_overhead_s: float = params.PCIE_TRANSFER_OVERHEAD_S
    pcie_out_row_overhead_s: float = params.PCIE_OUT_ROW_OVERHEAD_S
    pcie_overhead_between_contexts: bool = params.PCIE_OVERHEAD_BETWEEN_CONTEXTS
    compute_pj_per_mac: float = params.COMPUTE_PJ_PER_MAC
    # -- power (see the constants above and cost_model/power.py) ---------------------------
    typical_power_w: float = HAILO8_TYPICAL_POWER_W
    static_power_w: float = STATIC_POWER_SHARE * HAILO8_TYPICAL_POWER_W
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.cluster_ids:
            object.__setattr__(self, "cluster_ids", tuple(range(self.clusters)))
        _check_spec(self)
        # Hashed on every cached pricing call: compute it once (the fields never change).
        key = tuple(getattr(self, f.name) for f in fields(self) if f.compare)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined]

    def totals(self) -> Resources:
        """Whole-chip amount of each resource."""
        return Resources(
            lcus=self.lcus_total,
            subclusters=self.subclusters_total,
            l3_cuts=self.l3_cuts_total,
            apus=self.apus_total,
            input_aligners=self.input_aligners_total,
        )

    @property
    def sc_macs_per_s(self) -> float:
        """Peak multiply-accumulates per second of one subcluster (64 x 400 MHz = 25.6 G)."""
        return self.macs_per_sc_per_cycle * self.clock_hz

    @property
    def peak_macs_per_s(self) -> float:
        """Peak multiply-accumulates per second of the whole chip."""
        return self.sc_macs_per_s * self.subclusters_total

    def deciding(self) -> HardwareSpec:
        """The spec the partition is chosen at: the same part on the compiler's link.

        The Dataflow Compiler writes one HEF whatever host runs it, so the search decides the
        contexts at ``compiler_link`` and the report prices them on ``link``
        (:data:`cost_model.params.HAILO8L_COMPILER_LINK_LANES`).

        >>> rpi = load_hardware("rpi5_hailo8l")
        >>> rpi.link.label, rpi.deciding().link.label
        ('PCIe Gen3 x1', 'PCIe Gen3 x2')
        >>> preset("hailo8").deciding() is preset("hailo8")
        True
        """
        if self.compiler_link is None or self.compiler_link == self.link:
            return self
        return replace(self, link=self.compiler_link)

    def with_params(self, **changes: Any) -> HardwareSpec:
        """A copy with some fields changed (``HardwareSpecError`` names an unknown field)."""
        known = {f.name for f in fields(self)}
        for key in changes:
            if key not in known:
                raise HardwareSpecError(
                    f"hardware has no parameter {key!r}; known: {', '.join(sorted(known))}"
                )
        return replace(self, **changes)


def _check_spec(hw: HardwareSpec) -> None:
    _check_values({f.name: getattr(hw, f.name) for f in fields(hw)}, f"hardware {hw.name!r}")


def _check_values(values: Mapping[str, Any], where: str) -> None:
    """Every number in its range (:data:`cost_model.ranges.HARDWARE_RANGES`), known op kinds,
    and one distinct cluster id per cluster; ``where`` starts each message."""
    for key, accepted in HARDWARE_RANGES.items():
        if key.startswith("link.") or key not in values:
            continue
        value = values[key]
        problem = accepted.problem(value)
        if problem is not None:
            raise HardwareSpecError(f"{where}: {key} = {value!r} {problem}")
    fused_ops = values.get("fused_ops", ())
    extra_nodes = values.get("extra_nodes_by_op", ())
    kinds = {k.value for k in OpKind}
    for op in (*fused_ops, *(k for k, _ in extra_nodes)):
        if op not in kinds:
            raise HardwareSpecError(
                f"{where}: {op!r} in fused_ops or extra_nodes_by_op is not an op kind; "
                f"use some of {', '.join(sorted(kinds))}"
            )
    for op, extra in extra_nodes:
        if not OPTIONAL_COUNT.contains(extra):
            raise HardwareSpecError(
                f"{where}: extra_nodes_by_op gives {op!r} {extra!r} nodes; "
                f"use {OPTIONAL_COUNT.describe()}"
            )
    static, typical = values.get("static_power_w"), values.get("typical_power_w")
    if static is not None and typical is not None and static > typical:
        raise HardwareSpecError(
            f"{where}: static_power_w = {static!r} is above typical_power_w = {typical!r}; the "
            "static power is the part of the typical power drawn at any rate, so at most it"
        )
    clusters = values.get("clusters")
    ids = list(values.get("cluster_ids") or ())
    if clusters is None or not ids:
        return
    if len(ids) != clusters:
        raise HardwareSpecError(
            f"{where}: cluster_ids {ids} should list {clusters} clusters (one id per cluster)"
        )
    bad = [i for i in ids if not whole(0, MAX_CLUSTER_ID).contains(i)]
    if bad or len(set(ids)) != len(ids):
        what = f"has {bad[0]!r}" if bad else "repeats an id"
        raise HardwareSpecError(
            f"{where}: cluster_ids {ids} {what}; give {clusters} distinct whole numbers "
            f"from 0 to {MAX_CLUSTER_ID} (Hailo-8L: [0, 1, 4, 5])"
        )


# -- presets ------------------------------------------------------------------------------------
# Totals: HAILO.md section 1 (profiler totals; APUs and IAs from Model Zoo issue #124).
HAILO8 = HardwareSpec(
    name="hailo8",
    clusters=8,
    lcus_total=128,  # 16 per cluster
    subclusters_total=512,  # 64 per cluster
    l3_cuts_total=1024,  # 128 per cluster
    l3_cut_bytes=params.L3_CUT_BYTES,
    apus_total=160,
    input_aligners_total=256,
    l4_cuts_total=28,
    edge_layers_per_context=params.EDGE_LAYERS_PER_CONTEXT,
    clock_hz=params.CLOCK_HZ,
    macs_per_sc_per_cycle=params.MACS_PER_SC_PER_CYCLE,
    max_subclusters_per_node=params.MAX_SUBCLUSTERS_PER_NODE,
    link=PcieLink(generation=3, lanes=4),  # M.2 M-key module
    compiler_link=PcieLink(generation=3, lanes=4),
)

# Hailo-8L: 4 of the 8 clusters (compile logs show 0, 1, 4, 5), hence half of each cluster-bound
# total. APUs, IAs and L4 cuts are not published: assumed half of Hailo-8's [assumption].
HAILO8L = replace(
    HAILO8,
    name="hailo8l",
    clusters=4,
    cluster_ids=(0, 1, 4, 5),
    lcus_total=64,
    subclusters_total=256,
    l3_cuts_total=512,
    apus_total=80,  # [assumption] half of 160
    input_aligners_total=128,  # [assumption] half of 256
    l4_cuts_total=14,  # [assumption] half of 28
    link=PcieLink(generation=3, lanes=2),  # Hailo-8L M.2 modules are Gen3 x2
    compiler_link=PcieLink(generation=3, lanes=params.HAILO8L_COMPILER_LINK_LANES),
    typical_power_w=HAILO8L_TYPICAL_POWER_W,  # [assumption], see the constant
    static_power_w=STATIC_POWER_SHARE * HAILO8L_TYPICAL_POWER_W,  # [assumption]
    notes=(
        "APU, input-aligner and L4-cut totals assumed half of Hailo-8's",
        "typical and static power assumed (not published for Hailo-8L)",
    ),
)

PRESETS: dict[str, HardwareSpec] = {"hailo8": HAILO8, "hailo8l": HAILO8L}


def preset(name: str) -> HardwareSpec:
    """The preset called ``name`` (``"hailo8"`` or ``"hailo8l"``, case-insensitive).

    Raises:
        HardwareSpecError: an unknown name; the message lists the presets.

    >>> preset("hailo8l").subclusters_total
    256
    >>> preset("hailo9")
    Traceback (most recent call last):
    ...
    cost_model.errors.HardwareSpecError: unknown hardware 'hailo9'; presets: hailo8, hailo8l
    (or give a .toml file)
    """
    key = name.strip().lower().replace("-", "")
    if key not in PRESETS:
        raise HardwareSpecError(
            f"unknown hardware {name!r}; presets: {', '.join(PRESETS)} (or give a .toml file)"
        )
    return PRESETS[key]


def load_hardware(spec: str | Path) -> HardwareSpec:
    """A preset name, or the path to a hardware TOML file.

    A file may start from a preset (``base = "hailo8"``) and override any top-level key
    (a :class:`HardwareSpec` field) and the ``[link]`` table (``generation``, ``lanes``,
    ``efficiency``, ``bytes_per_s``). Without ``base`` it must give every resource total. A
    ``[compiler_link]`` table (same keys) sets the link the partition is decided at; a file on
    a preset's base keeps the preset's, one without decides at its ``[link]``.
    A relative path that does not exist is also looked up in ``cost_model/hardware/``.

    Raises:
        HardwareSpecError: unknown preset, missing or unreadable file, invalid TOML, an unknown
            key, a missing key, or a value of the wrong type; the message names the key.

    >>> load_hardware("rpi5_hailo8l").link.label
    'PCIe Gen3 x1'
    """
    text = str(spec)
    if text.strip().lower().replace("-", "") in PRESETS:
        return preset(text)
    path = hardware_file(text)
    if path is None:
        _raise_not_found(text)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise HardwareSpecError(f"cannot read hardware file {str(path)!r}: {err}") from err
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise HardwareSpecError(
            f"hardware file {str(path)!r} is not UTF-8 text (byte {raw[err.start]:#04x} at "
            f"offset {err.start}); save it as UTF-8"
        ) from err
    except tomllib.TOMLDecodeError as err:
        raise HardwareSpecError(f"hardware file {str(path)!r} is not valid TOML: {err}") from err
    return hardware_from_dict(data, source=f"hardware file {str(path)!r}", default_name=path.stem)


def hardware_file(spec: str | Path) -> Path | None:
    """The TOML file :func:`load_hardware` reads for ``spec``: the path, else the bundled file
    of that name (``rpi5_hailo8l``); ``None`` for a preset name or when there is no such file.

    Raises:
        HardwareSpecError: the path exists but is not a regular file (a folder, a FIFO, a
            device): reading it could block or mean nothing.

    >>> hardware_file("hailo8") is None, hardware_file("rpi5_hailo8l").name
    (True, 'rpi5_hailo8l.toml')
    """
    text = str(spec)
    if text.strip().lower().replace("-", "") in PRESETS:
        return None
    path = Path(text)
    candidates = [path]
    if not path.is_absolute():
        bundled = HARDWARE_DIR / path
        candidates += [bundled, bundled.with_suffix(".toml")]
    try:
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        if path.exists():
            raise HardwareSpecError(
                f"hardware file {text!r} is not a regular file (a directory, a FIFO or a device); "
                "give a .toml file"
            )
    except (OSError, ValueError):  # a name too long, a NUL byte: no such file
        return None
    return None


def _raise_not_found(text: str) -> NoReturn:
    raise HardwareSpecError(
        f"no hardware preset or file {text!r}; presets: {', '.join(PRESETS)}, "
        f"bundled files: {', '.join(sorted(p.stem for p in HARDWARE_DIR.glob('*.toml')))}"
    )


_LINK_KEYS = {"generation": int, "lanes": int, "efficiency": float, "bytes_per_s": float}


def hardware_from_dict(
    data: Mapping[str, Any], *, source: str = "<dict>", default_name: str = "custom"
) -> HardwareSpec:
    """Build a spec from parsed TOML data (see :func:`load_hardware` for the keys).

    >>> hardware_from_dict({"base": "hailo8", "link": {"lanes": 2}}).link.label
    'PCIe Gen3 x2'
    >>> hardware_from_dict({"base": "hailo8", "lcu_total": 96})
    Traceback (most recent call last):
    ...
    cost_model.errors.HardwareSpecError: <dict>: unknown key 'lcu_total'; did you mean 'lcus_total'?
    """
    data = dict(data)
    base_name = data.pop("base", None)
    link_data = data.pop("link", None)
    compiler_link_data = data.pop("compiler_link", None)
    types = {f.name: f.type for f in fields(HardwareSpec)}
    values: dict[str, Any] = {}
    if base_name is not None:
        if (
            not isinstance(base_name, str)
            or base_name.strip().lower().replace("-", "") not in PRESETS
        ):
            raise HardwareSpecError(
                f"{source}: base = {base_name!r} is not a preset; use one of {', '.join(PRESETS)}"
            )
        base = preset(base_name)
        values = {f.name: getattr(base, f.name) for f in fields(HardwareSpec)}
    for key, value in data.items():
        if key not in types or key in ("link", "compiler_link", "notes"):
            raise HardwareSpecError(f"{source}: unknown key {key!r}{_suggest(key, types)}")
        values[key] = _coerce(key, value, str(types[key]), source)
    if "clusters" in data and "cluster_ids" not in data:
        values["cluster_ids"] = ()  # numbered 0..clusters-1
    values["link"] = _link(link_data, values.get("link"), source)
    if compiler_link_data is not None:
        base_link = values.get("compiler_link") or values["link"]
        values["compiler_link"] = _link(compiler_link_data, base_link, source, "compiler_link")
    if "name" not in data:
        values["name"] = default_name  # a file is named by its stem, not by its base
    missing = [
        f.name
        for f in fields(HardwareSpec)
        if f.name not in values and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise HardwareSpecError(
            f'{source}: missing key {missing[0]!r} (or start from a preset: base = "hailo8")'
        )
    _check_values(values, source)  # the file's name in the message, not the part's
    return HardwareSpec(**values)


def _link(link_data: Any, base: PcieLink | None, source: str, table: str = "link") -> PcieLink:
    if link_data is None:
        if base is None:
            raise HardwareSpecError(f"{source}: missing table [{table}] (generation, lanes)")
        return base
    if not isinstance(link_data, Mapping):
        raise HardwareSpecError(f"{source}: key {table!r} must be a table [{table}]")
    values: dict[str, Any] = {}
    if base is not None:
        values = {
            "generation": base.generation,
            "lanes": base.lanes,
            "efficiency": base.efficiency,
            "measured_bytes_per_s": base.measured_bytes_per_s,
        }
    for key, value in link_data.items():
        if key not in _LINK_KEYS:
            raise HardwareSpecError(
                f"{source}: unknown key '{table}.{key}'; known: {', '.join(_LINK_KEYS)}"
            )
        kind = _LINK_KEYS[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is int:
            ok = ok and isinstance(value, int)
        if not ok:
            expected = "an integer" if kind is int else "a number"
            raise HardwareSpecError(f"{source}: key '{table}.{key}' = {value!r} must be {expected}")
        values["measured_bytes_per_s" if key == "bytes_per_s" else key] = kind(value)
    for key in ("generation", "lanes"):
        if key not in values:
            raise HardwareSpecError(f"{source}: missing key '{table}.{key}'")
    try:
        return PcieLink(**values)
    except HardwareSpecError as err:
        where = "" if str(err).startswith("link.") else f"[{table}] "
        raise HardwareSpecError(f"{source}: {where}{err}") from err


def _coerce(key: str, value: Any, type_name: str, source: str) -> Any:
    if type_name == "str":
        if not isinstance(value, str):
            raise HardwareSpecError(f"{source}: key {key!r} = {value!r} must be a string")
        return value
    if type_name == "tuple[tuple[str, int], ...]":
        if not isinstance(value, Mapping) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value.values()
        ):
            raise HardwareSpecError(
                f"{source}: key {key!r} = {value!r} must be a table of integers, "
                "e.g. {{ norm = 3, softmax = 3 }}"
            )
        return tuple(sorted(value.items()))
    if type_name == "tuple[str, ...]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise HardwareSpecError(f"{source}: key {key!r} = {value!r} must be a list of strings")
        return tuple(value)
    if type_name.startswith("tuple"):
        if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
            raise HardwareSpecError(f"{source}: key {key!r} = {value!r} must be a list of integers")
        return tuple(value)
    if type_name == "bool":
        if not isinstance(value, bool):
            raise HardwareSpecError(f"{source}: key {key!r} = {value!r} must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HardwareSpecError(f"{source}: key {key!r} = {value!r} must be a number")
    if type_name == "int":
        if not isinstance(value, int):
            raise HardwareSpecError(f"{source}: key {key!r} = {value!r} must be an integer")
        return value
    return float(value)


def _suggest(key: str, known: Mapping[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(key, [k for k in known if k not in ("notes",)], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
