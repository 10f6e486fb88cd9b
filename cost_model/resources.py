"""Integer amounts of the five resources a context's layers share.

The names follow the compiler's profiler: LCUs ("Control"), subclusters ("Compute"), L3 memory
cuts ("Memory"), APUs and input aligners.

>>> a = Resources(lcus=3, subclusters=10, l3_cuts=4)
>>> b = Resources(lcus=1, subclusters=2, apus=1)
>>> a + b
Resources(lcus=4, subclusters=12, l3_cuts=4, apus=1, input_aligners=0)
>>> sum([a, b], Resources.zeros()).as_tuple()
(4, 12, 4, 1, 0)
>>> (a + b).over(Resources(lcus=4, subclusters=8, l3_cuts=10, apus=1, input_aligners=1))
[('subclusters', 12, 8)]
"""

from __future__ import annotations

from dataclasses import dataclass, fields

RESOURCE_NAMES: tuple[str, ...] = ("lcus", "subclusters", "l3_cuts", "apus", "input_aligners")

EDGE_LAYERS = "edge_layers"
"""Not a resource of the caps but a per-context limit (hailort's 20 edge layers): it appears in
the ``over`` lists of :func:`cost_model.context.context_fit` after the resources."""

# How the compiler names each resource in its failure lines ("SCs: 326/384, LCUs: 149/96").
COMPILER_LABELS: dict[str, str] = {
    "lcus": "LCUs",
    "subclusters": "SCs",
    "l3_cuts": "L3 cuts",
    "apus": "APUs",
    "input_aligners": "IAs",
    EDGE_LAYERS: "edge layers",
}


@dataclass(frozen=True, kw_only=True, order=False)
class Resources:
    """Integer units of each resource (a demand, a usage or a limit).

    Supports ``+``, ``-``, ``*`` by an int, ``sum(..., Resources.zeros())`` and the partial order
    ``a <= b`` (every field at most the other's).
    """

    lcus: int = 0
    subclusters: int = 0
    l3_cuts: int = 0
    apus: int = 0
    input_aligners: int = 0

    @classmethod
    def zeros(cls) -> Resources:
        """All resources at 0 (the start value of a sum)."""
        return cls()

    @classmethod
    def from_tuple(cls, values: tuple[int, ...] | list[int]) -> Resources:
        """Inverse of :meth:`as_tuple` (values in ``RESOURCE_NAMES`` order)."""
        if len(values) != len(RESOURCE_NAMES):
            raise ValueError(f"expected {len(RESOURCE_NAMES)} values, got {len(values)}")
        return cls(**{k: int(v) for k, v in zip(RESOURCE_NAMES, values, strict=True)})

    def as_tuple(self) -> tuple[int, ...]:
        """The amounts in ``RESOURCE_NAMES`` order."""
        return tuple(getattr(self, name) for name in RESOURCE_NAMES)

    def as_dict(self) -> dict[str, int]:
        """``{resource name: amount}`` in ``RESOURCE_NAMES`` order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __add__(self, other: Resources) -> Resources:
        if not isinstance(other, Resources):
            return NotImplemented
        return Resources.from_tuple(
            [a + b for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)]
        )

    def __radd__(self, other: object) -> Resources:
        if other == 0:  # lets plain sum() work too
            return self
        return NotImplemented

    def __sub__(self, other: Resources) -> Resources:
        if not isinstance(other, Resources):
            return NotImplemented
        return Resources.from_tuple(
            [a - b for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)]
        )

    def __mul__(self, factor: int) -> Resources:
        if not isinstance(factor, int):
            return NotImplemented
        return Resources.from_tuple([a * factor for a in self.as_tuple()])

    __rmul__ = __mul__

    def __le__(self, other: Resources) -> bool:
        if not isinstance(other, Resources):
            return NotImplemented
        return all(a <= b for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True))

    def __ge__(self, other: Resources) -> bool:
        if not isinstance(other, Resources):
            return NotImplemented
        return other <= self

    def __lt__(self, other: Resources) -> bool:
        if not isinstance(other, Resources):
            return NotImplemented
        return self <= other and self != other

    def __gt__(self, other: Resources) -> bool:
        if not isinstance(other, Resources):
            return NotImplemented
        return other < self

    def fits(self, limits: Resources) -> bool:
        """True when every amount is at most its limit."""
        return self <= limits

    def over(self, limits: Resources) -> list[tuple[str, int, int]]:
        """``(resource, used, limit)`` of each resource over its limit, in name order."""
        return [
            (name, used, limit)
            for name, used, limit in zip(
                RESOURCE_NAMES, self.as_tuple(), limits.as_tuple(), strict=True
            )
            if used > limit
        ]


def format_over(over: list[tuple[str, int, int]]) -> str:
    """The compiler-style list of resources over their limits.

    >>> format_over([("subclusters", 326, 384), ("lcus", 149, 96)])
    'SCs: 326/384, LCUs: 149/96'
    """
    return ", ".join(f"{COMPILER_LABELS[name]}: {used}/{limit}" for name, used, limit in over)
