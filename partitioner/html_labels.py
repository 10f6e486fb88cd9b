"""Words shared by the terminal tables and the HTML report."""

from __future__ import annotations

BINDING_LABELS: dict[str, str] = {
    "lcus": "Control (LCUs)",
    "subclusters": "Compute (SCs)",
    "l3_cuts": "Memory (L3 cuts)",
    "apus": "APUs",
    "input_aligners": "input aligners (IAs)",
    "layer": "a layer's split limit",
    "pcie": "PCIe",
}
"""What stops a context's rate rising, in the profiler's words."""


def binding_label(binding: str) -> str:
    """The readable name of a ``ContextReport.binding``.

    >>> binding_label("lcus"), binding_label("pcie"), binding_label("other")
    ('Control (LCUs)', 'PCIe', 'other')
    """
    return BINDING_LABELS.get(binding, binding)
