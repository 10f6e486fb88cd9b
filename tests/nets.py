"""Small hand-built networks for solver and CLI tests (no torch)."""

from __future__ import annotations

from cost_model.layer import Layer, OpKind
from partitioner.graph import Network

SCENARIO_HW_PARAMS = {
    "compute_efficiency": 0.7,
    "dwconv_kernel_exponent": 0.24286115,
    "matmul_efficiency": 0.042021503125,
    "sc_cycles_per_row": 2000.0,
    "config_bytes_per_node": 32768,
    "pcie_out_row_overhead_s": 1.495e-6,
}
"""The calibrated constants (squared-loss fit, session 10) at which the search scenarios on
``conv_chain(170)`` were built: which contexts the search tries, when a bound proves an
iteration. They test the search's logic, so they keep these constants when a refit moves the
defaults (``preset("hailo8").with_params(**SCENARIO_HW_PARAMS)``)."""


def conv(name: str, src: str, c_in: int, c_out: int, hw: int, k: int = 3) -> Layer:
    """A fused conv+relu; params = weights + bias, MACs = c_out*hw*hw*c_in*k*k."""
    return Layer(
        name=name,
        op=OpKind.CONV,
        inputs=(src,),
        input_shapes=((c_in, hw, hw),),
        output_shape=(c_out, hw, hw),
        kernel=(k, k),
        params=c_out * c_in * k * k + c_out,
        macs=c_out * hw * hw * c_in * k * k,
        activation="relu",
    )


def conv_chain(n: int, *, channels: int = 16, hw: int = 32, name: str = "chain") -> Network:
    """``n`` 3x3 convs in a row on a ``channels`` x ``hw`` x ``hw`` map."""
    layers = [conv("conv0", "images", 3, channels, hw)]
    layers += [conv(f"conv{i}", f"conv{i - 1}", channels, channels, hw) for i in range(1, n)]
    return Network(name, layers, inputs={"images": (3, hw, hw)}, outputs=[f"conv{n - 1}"])


def dense_chain(params_per_layer: int, n: int, *, name: str = "fat") -> Network:
    """``n`` dense layers of about ``params_per_layer`` weights each (memory-heavy)."""
    width = int(params_per_layer**0.5)
    layers = []
    src = "x"
    for i in range(n):
        layers.append(
            Layer(
                name=f"fc{i}",
                op=OpKind.DENSE,
                inputs=(src,),
                input_shapes=((width,),),
                output_shape=(width,),
                params=width * width + width,
                macs=width * width,
            )
        )
        src = f"fc{i}"
    return Network(name, layers, inputs={"x": (width,)}, outputs=[src])


def pointwise_chain(n: int, weight_cuts: int, *, cut_bytes: int = 16384) -> Network:
    """``n`` 1x1 convs on 64 x 8 x 8, each ``weight_cuts`` L3 cuts of weights (``cut_bytes``
    each, 8-bit) plus one of line buffer, and one node at its lowest rate: ``n`` LCUs and
    ``n x (weight_cuts + 1)`` L3 cuts (with ``fused_ops=()``)."""
    layers, src = [], "x"
    for i in range(n):
        layers.append(
            Layer(name=f"l{i}", op=OpKind.CONV, inputs=(src,), input_shapes=((64, 8, 8),),
                  output_shape=(64, 8, 8), params=weight_cuts * cut_bytes, macs=1000)
        )  # fmt: skip
        src = f"l{i}"
    return Network(f"pointwise{n}", layers, inputs={"x": (64, 8, 8)}, outputs=[src])
