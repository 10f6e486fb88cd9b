"""Skip-connection buffers: rows a layer holds while a parallel path to it catches up.

Activations stream row by row (HAILO.md section 2). Where two paths from one tensor meet again
(a residual add, a concat of an early feature map with an upsampled deep one), the short path's
rows arrive first and wait in L3 memory until the long path's rows catch up. How many rows
wait follows from how far each path lags behind the frame's input:

* time is counted in frames of the input; row ``r`` of a tensor with ``H`` rows is ready at
  ``(r + 1) / H + lag``, and graph inputs have lag 0;
* a windowed layer (conv, pool) with kernel span ``k = (kh - 1) x dilation + 1``, padding
  ``(k - 1) // 2`` and stride ``s`` needs ``k - pad - s`` rows beyond the matching input row
  before its first output row (a 3x3 conv one row, a 5x5 pool two, a strided 3x3 none): its
  output lags ``max(0, k - pad - s) / H_in`` frames more than its input;
* a layer that needs its whole input before any output (MATMUL and TRANSPOSE inputs are held
  whole, a global pool or dense layer reduces the map to one row) lags a whole frame more;
* a layer with several inputs starts with the latest of them; each earlier input ``i`` holds
  ``ceil((latest - lag_i) x H_i)`` rows of its tensor (never more than the tensor has).

The compute time of a layer is not counted, only rows. Whether the compiler buffers these rows
in L3 cuts as this says is a calibrated choice (``HardwareSpec.skip_buffers``,
:mod:`cost_model.params`); a multi-context answer whose long path crosses a context boundary
does not need them on the chip, and they are counted anyway (an overestimate).

>>> from cost_model.layer import Layer, OpKind
>>> def conv(name, src, k=3):
...     return Layer(name=name, op=OpKind.CONV, inputs=(src,), input_shapes=((8, 16, 16),),
...                  output_shape=(8, 16, 16), kernel=(k, k), params=584, macs=147456)
>>> add = Layer(name="add", op=OpKind.ADD, inputs=("x", "b"),
...             input_shapes=((8, 16, 16), (8, 16, 16)), output_shape=(8, 16, 16))
>>> held_rows([conv("a", "x"), conv("b", "a"), add])   # x waits 2 rows for two 3x3 convs
{'add': (2, 0)}
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from cost_model.layer import Layer
from cost_model.lowering import WHOLE_INPUT_OPS, tensor_rows

_EPS = 1e-9


def own_lag(layer: Layer) -> float:
    """Frames by which ``layer``'s output lags its latest input (see the module docstring).

    >>> from cost_model.layer import Layer, OpKind
    >>> pool = Layer(name="p", op=OpKind.MAXPOOL, inputs=("x",), input_shapes=((8, 20, 20),),
    ...              output_shape=(8, 20, 20), kernel=(5, 5))
    >>> own_lag(pool)   # 5 - 2 - 1 = 2 rows of 20
    0.1
    """
    rows_in = tensor_rows(layer.input_shapes[0]) if layer.input_shapes else 1
    if layer.op in WHOLE_INPUT_OPS or (tensor_rows(layer.output_shape) == 1 and rows_in > 1):
        return 1.0
    span = (layer.kernel[0] - 1) * layer.dilation[0] + 1
    pad = (span - 1) // 2
    return max(0, span - pad - layer.stride[0]) / rows_in


def _waiting_rows(rows: int, behind: float) -> int:
    """Rows of a tensor of ``rows`` rows that wait ``behind`` frames (at most all of them)."""
    return min(rows, max(0, math.ceil(behind * rows - _EPS)))


def held_rows(layers: Sequence[Layer]) -> dict[str, tuple[int, ...]]:
    """Rows each input of each join layer holds, for ``layers`` in topological order (a tensor
    no layer makes is a graph input, lag 0). Only layers that hold a row are listed."""
    lag: dict[str, float] = {}
    out: dict[str, tuple[int, ...]] = {}
    for layer in layers:
        lags = [lag.get(name, 0.0) for name in layer.inputs]
        latest = max(lags, default=0.0)
        if len(lags) > 1:
            rows = tuple(
                _waiting_rows(tensor_rows(shape), latest - mine)
                for shape, mine in zip(layer.input_shapes, lags, strict=True)
            )
            if any(rows):
                out[layer.name] = rows
        lag[layer.name] = latest + own_lag(layer)
    return out
