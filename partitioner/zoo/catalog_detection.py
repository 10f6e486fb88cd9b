"""Zoo networks of the Model Zoo's detection families: entries and build recipes (no torch).

Each entry's published size is the Model Zoo v2.18 row (``params_M``, ``ops_G`` = 2 x MACs) and
its input the row's input. A recipe is (module of partitioner.zoo, builder function, fixed
arguments); the builder takes, as keyword arguments, the knobs among width/depth/resolution it
declares, and ``input_hw`` (the input height and width) if it declares it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from partitioner.zoo.entry import ZooEntry

ENTRIES: tuple[ZooEntry, ...] = ()

RECIPES: Mapping[str, tuple[str, str, Mapping[str, Any]]] = {}
