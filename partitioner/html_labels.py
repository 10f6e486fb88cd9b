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
    "reload": "switch reload",
    "target": "required FPS",
}
"""What stops a context's rate rising, in the profiler's words; ``reload``: a context of several
kept at the search's rate, where a higher one would add more configuration to every switch than
it saves in frames; ``target``: a single context at its required FPS."""


def binding_label(binding: str) -> str:
    """The readable name of a ``ContextReport.binding``.

    >>> binding_label("lcus"), binding_label("pcie"), binding_label("other")
    ('Control (LCUs)', 'PCIe', 'other')
    """
    return BINDING_LABELS.get(binding, binding)
