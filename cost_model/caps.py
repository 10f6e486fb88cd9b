"""Utilization caps (``resources_param``) and the integer limits they allow.

A cap u on a resource of total T allows ``ceil(u x T)`` units (0.85 x 512 = 436 SCs, exactly
what single-context ResNet-50 uses on Hailo-8). The compiler's defaults are 75% in the
single-context flow and 60% in the multi-context flow; caps above 1.0 are accepted (the Model Zoo
uses control caps of 1.1 and 1.2).

>>> from cost_model.hardware import preset
>>> limits(MULTI_CONTEXT_CAPS, preset("hailo8"))
Resources(lcus=77, subclusters=308, l3_cuts=615, apus=96, input_aligners=154)
>>> limits(ResourceCaps.uniform(0.85), preset("hailo8")).subclusters
436
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from cost_model.errors import HardwareSpecError
from cost_model.hardware import HardwareSpec
from cost_model.resources import Resources

# Which resource each cap limits ("Control", "Compute", "Memory" in the profiler's tables).
CAP_RESOURCE: dict[str, str] = {
    "control": "lcus",
    "compute": "subclusters",
    "memory": "l3_cuts",
    "apu": "apus",
    "input_aligner": "input_aligners",
}

# Floating-point slack so that 0.6 x 128 = 76.80000000000001 stays 77, and 0.75 x 128 stays 96.
_EPS = 1e-9

MAX_CAP = 2.0  # the Model Zoo goes to 1.2; anything above 2 is surely a typo


@dataclass(frozen=True, kw_only=True)
class ResourceCaps:
    """Fractions of each resource total one context may use.

    >>> ResourceCaps.uniform(0.8).with_cap("control", 1.1).control
    1.1
    """

    control: float
    compute: float
    memory: float
    apu: float
    input_aligner: float

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise HardwareSpecError(f"cap {f.name!r} = {value!r} must be a number")
            if not 0.0 < value <= MAX_CAP:
                raise HardwareSpecError(
                    f"cap {f.name!r} = {value!r} is outside (0, {MAX_CAP}]; "
                    "write a fraction like 0.8"
                )

    @classmethod
    def uniform(cls, u: float) -> ResourceCaps:
        """Every cap at ``u`` (``resources_param(max_utilization=u)``)."""
        return cls(control=u, compute=u, memory=u, apu=u, input_aligner=u)

    def with_cap(self, name: str, u: float) -> ResourceCaps:
        """A copy with one cap changed.

        Raises:
            HardwareSpecError: ``name`` is not one of control, compute, memory, apu,
                input_aligner.
        """
        if name not in CAP_RESOURCE:
            raise HardwareSpecError(f"unknown cap {name!r}; use one of {', '.join(CAP_RESOURCE)}")
        return replace(self, **{name: u})

    def scaled(self, factor: float) -> ResourceCaps:
        """Every cap multiplied by ``factor``."""
        return ResourceCaps(**{f.name: getattr(self, f.name) * factor for f in fields(self)})


SINGLE_CONTEXT_CAPS = ResourceCaps.uniform(0.75)  # compiler default, single-context flow
MULTI_CONTEXT_CAPS = ResourceCaps.uniform(0.60)  # compiler default, multi-context flow


def cap_limit(u: float, total: int) -> int:
    """Units a cap ``u`` allows of a resource with ``total`` units: ``ceil(u x total)``.

    >>> cap_limit(0.6, 128), cap_limit(0.75, 128), cap_limit(0.85, 512)
    (77, 96, 436)
    """
    return math.ceil(u * total - _EPS)


CONTROL_CLASS: tuple[str, ...] = ("lcus", "apus", "input_aligners")
"""Resources taken one per node (a layer controller, its APU, its input aligner)."""
MEMORY_CLASS: tuple[str, ...] = ("l3_cuts",)
"""L3 memory: weights and line buffers."""


def over_both_classes(usage: Resources, base: Resources) -> list[tuple[str, int, int]]:
    """``(resource, used, limit)`` of every resource over ``base`` when the control class
    (:data:`CONTROL_CLASS`) and memory (:data:`MEMORY_CLASS`) are both over it; ``[]`` when at
    most one class is.

    The single-context flow's rule of one raised class (``FlowParams.single_raise_one_class``):
    a network may pass the default caps on nodes or on memory, not on both.

    >>> base = Resources(lcus=96, subclusters=384, l3_cuts=768, apus=120, input_aligners=192)
    >>> over_both_classes(Resources(lcus=102, subclusters=200, l3_cuts=700), base)
    []
    >>> over_both_classes(Resources(lcus=102, subclusters=200, l3_cuts=827), base)
    [('lcus', 102, 96), ('l3_cuts', 827, 768)]
    """
    over = usage.over(base)
    names = {name for name, _, _ in over}
    if names & set(CONTROL_CLASS) and names & set(MEMORY_CLASS):
        return [item for item in over if item[0] in CONTROL_CLASS + MEMORY_CLASS]
    return []


def limits(caps: ResourceCaps, hw: HardwareSpec) -> Resources:
    """Integer limit of each resource for one context under ``caps`` on ``hw``."""
    totals = hw.totals()
    return Resources(
        **{
            resource: cap_limit(getattr(caps, cap), getattr(totals, resource))
            for cap, resource in CAP_RESOURCE.items()
        }
    )
