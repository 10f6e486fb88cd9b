"""Import a PyTorch ``nn.Module`` through torch.fx into a :class:`~partitioner.graph.Network`.

:func:`import_module` puts the module in eval mode and traces it with a torch.fx ``Tracer`` that
records each node's innermost user source line (so errors can name it). It then runs the traced
graph twice to record every node's output shape and the python values of size queries: on meta
tensors (no data; common leaf modules and ops get their result shape from a rule, the rest from
torch's meta kernels), or, if an op does not support them, on fake tensors (``FakeTensorMode``),
or else on zero tensors under ``torch.no_grad()``. The two runs use batch 1 and batch 2; the dim
that grows is the batch, wherever reshapes and permutes moved it (timm's
``permute(2, 0, 3, 1, 4)`` of the qkv tensor puts it second). Finally it maps each node to
:class:`~partitioner.importers.builder.GraphBuilder` primitives; the builder fuses them the way
Hailo's parser does (see its module docstring for the fusion rules and the MACs/params
conventions).

Mapping rules worth knowing:

- Leaf modules are torch.nn's own (torch.fx's default); a user subclass of ``nn.Conv2d`` with its
  own ``forward`` is traced through, so its ``F.conv2d`` on ``get_attr`` weights is imported.
- Shapes in the layer graph drop the batch dim; an op across the batch dim is unsupported.
- A node that computes only from constants (parameters, buffers, python values) is folded: it
  carries the parameter count of what it read. Where such a constant meets an activation it is
  counted: a learned tensor as large as the activation (a position embedding) makes an ``ADD``
  (or ``MUL``) layer with those params, a class token concatenated makes the ``CONCAT``'s params,
  a smaller one (a layer-scale vector, a python scalar, a buffer) is folded into the producer.
- Layer names: a leaf module's path (``layer4.2.conv3``); a function or method node is named
  ``<path of the module whose forward called it>.<fx node name>`` (``layer1.0.add``).
- ``expand``/``repeat`` of an activation (a broadcast that copies data) is a ``RESIZE``.
- ``nn.MultiheadAttention`` (``batch_first=True``) becomes in-projection dense(s), a split, the two
  attention matmuls, a softmax and the out-projection dense; ``F.scaled_dot_product_attention``
  becomes matmul + softmax + matmul.

Any other op raises :class:`~partitioner.errors.UnsupportedOperatorError` naming the op, the fx
node and the source line. The imported module is never pickled or loaded with ``torch.load``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import inspect
import linecache
import math
import operator
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import fx, nn
from torch.fx.node import map_aggregate

from cost_model.layer import OpKind, Shape
from partitioner.errors import ModelImportError, ModelNotFoundError, UnsupportedOperatorError
from partitioner.graph import Network
from partitioner.importers.builder import GraphBuilder, TensorRef

_TORCH_DIR = str(Path(torch.__file__).resolve().parent)
_THIS_DIR = str(Path(__file__).resolve().parent)
_LIBRARY_DIRS = (_TORCH_DIR, _THIS_DIR, str(Path(functools.__file__).resolve().parent))


# -- public API ------------------------------------------------------------------------------------
def import_module(module: nn.Module, input_shape: tuple[int, ...], *, name: str) -> Network:
    """Trace ``module`` on an input of ``input_shape`` (batch included) and return its layers.

    The module is switched to eval mode for the import and restored afterwards.

    Raises:
        ModelImportError: ``input_shape`` has a batch other than 1 or a non-positive dim; torch.fx
            cannot trace the module (data-dependent control flow); its forward fails on
            ``input_shape``; it takes more than one tensor input.
        UnsupportedOperatorError: an op ctxfit cannot price (the message names op, node, line).

    >>> net = import_module(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()),
    ...                     (1, 3, 10, 10), name="tiny")
    >>> [(layer.name, layer.op.value, layer.activation, layer.output_shape) for layer in net]
    [('0', 'conv', 'relu', (8, 8, 8))]
    >>> net.total_params, net.total_macs    # 8*3*3*3 + 8 bias + 16 bn; 8*8*8 outputs * 3*3*3
    (240, 13824)
    """
    shape = _check_input_shape(input_shape)
    was_training = module.training
    module.eval()
    try:
        graph_module = _trace(module)
        _check_single_input(graph_module, type(module).__name__)
        _record_shapes(graph_module, shape, type(module).__name__)
        return _Importer(graph_module, name).run()
    finally:
        module.train(was_training)


def load_factory(spec: str) -> Callable[..., nn.Module]:
    """The factory named by ``"path/to/file.py:function"``, wrapped so that calling it returns
    an ``nn.Module`` or raises a ctxfit error.

    The file is imported with ``importlib`` (its folder is on ``sys.path`` while it runs, so it
    can import its neighbours); nothing is unpickled.

    Raises:
        ModelNotFoundError: ``spec`` is not ``FILE.py:FUNCTION``, the file does not exist, or it
            defines no callable ``FUNCTION``.
        ModelImportError: importing the file fails; when the returned callable is called: the
            factory raises, or returns something that is not an ``nn.Module``.
    """
    path_text, sep, func_name = spec.rpartition(":")
    if not sep or not path_text or not func_name.isidentifier():
        raise ModelNotFoundError(
            f"{spec!r} is not a FILE.py:FUNCTION reference; write it like models/net.py:build"
        )
    path = Path(path_text)
    if not path.is_file():
        raise ModelNotFoundError(f"no file {path_text!r} (from {spec!r}); check the path")
    factory = getattr(_import_file(path), func_name, None)
    if not callable(factory):
        raise ModelNotFoundError(
            f"{path_text!r} defines no function {func_name!r}; "
            f"its functions are {_public_functions(path)!r}"
        )

    @functools.wraps(factory)
    def build(*args: Any, **kwargs: Any) -> nn.Module:
        try:
            model = factory(*args, **kwargs)
        except SystemExit as err:  # a script's exit() must not end ctxfit with its code
            raise ModelImportError(
                f"factory {spec!r} called sys.exit({err.code!r}); make it return the model "
                "instead of exiting"
            ) from err
        except Exception as err:
            raise ModelImportError(
                f"factory {spec!r} raised {type(err).__name__}: {_first_line(err)}; "
                "fix it so that calling it returns the model"
            ) from err
        if not isinstance(model, nn.Module):
            raise ModelImportError(
                f"factory {spec!r} returned a {type(model).__name__}, not a torch.nn.Module; "
                "make it return the model object"
            )
        return model

    return build


# -- loading files ---------------------------------------------------------------------------------
def _import_file(path: Path) -> Any:
    resolved = path.resolve()
    module_name = "ctxfit_user_" + re.sub(r"\W", "_", str(resolved))
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise ModelImportError(f"{str(path)!r} is not a python file; pass a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses in the file look themselves up here
    sys.path.insert(0, str(resolved.parent))
    try:
        spec.loader.exec_module(module)
    except SystemExit as err:  # a script's top-level exit() must not end ctxfit with its code
        del sys.modules[module_name]
        raise ModelImportError(
            f"importing {str(path)!r} called sys.exit({err.code!r}); guard the script's own "
            'run with `if __name__ == "__main__":`'
        ) from err
    except Exception as err:
        del sys.modules[module_name]
        raise ModelImportError(
            f"importing {str(path)!r} failed: {type(err).__name__}: {_first_line(err)}; "
            f"fix the file so that `python {path}` runs"
        ) from err
    finally:
        sys.path.remove(str(resolved.parent))
    return module


def _public_functions(path: Path) -> list[str]:
    module = sys.modules["ctxfit_user_" + re.sub(r"\W", "_", str(path.resolve()))]
    return sorted(
        n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_")
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# -- tracing and shapes ----------------------------------------------------------------------------
def _check_input_shape(input_shape: tuple[int, ...]) -> Shape:
    shape = tuple(int(d) if hasattr(d, "__index__") else d for d in input_shape)
    if len(shape) < 2 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ModelImportError(
            f"input shape {shape!r} must be positive ints with the batch first, "
            "e.g. (1, 3, 224, 224)"
        )
    if shape[0] != 1:
        raise ModelImportError(
            f"input shape {shape!r} has batch {shape[0]}; ctxfit imports one frame: pass "
            f"{(1, *shape[1:])!r} (the batch size is a separate option)"
        )
    return shape


def _check_single_input(graph_module: fx.GraphModule, class_name: str) -> None:
    """Raise ModelImportError if forward takes more than one argument without a default."""
    required = [n.name for n in graph_module.graph.nodes if n.op == "placeholder" and not n.args]
    if len(required) > 1:
        raise ModelImportError(
            f"{class_name}.forward takes {len(required)} inputs ({', '.join(required)}); ctxfit "
            "imports single-input models: wrap it in a module that builds the other inputs"
        )


class _Tracer(fx.Tracer):
    """A torch.fx tracer that records, for every node, the innermost user source line.

    torch.fx's own ``record_stack_traces=True`` symbolizes the whole Python stack per node, which
    made tracing YOLOv8x 30x slower; one frame is all an error message needs.
    """

    def create_node(self, *args: Any, **kwargs: Any) -> fx.Node:
        node = super().create_node(*args, **kwargs)
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
            frame = frame.f_back
        if frame is not None:
            path, line = frame.f_code.co_filename, frame.f_lineno
            code = linecache.getline(path, line).strip()
            node.stack_trace = (
                f'File "{path}", line {line}, in {frame.f_code.co_name}\n    {code}\n'
            )
        return node


def _trace(module: nn.Module) -> fx.GraphModule:
    tracer = _Tracer()
    if tracer.is_leaf_module(module, ""):  # a bare nn.Conv2d: trace a module that calls it
        module = _Root(module)
    try:
        graph = tracer.trace(module)
    except Exception as err:
        raise ModelImportError(
            f"torch.fx cannot trace {type(module).__name__}: {_first_line(err)}; "
            "symbolic tracing needs a forward without python control flow on tensor values "
            "(rewrite such `if`s with torch.where, or import the traceable part)"
        ) from err
    return fx.GraphModule(tracer.root, graph, type(module).__name__)


@dataclass(frozen=True, kw_only=True)
class _TensorMeta:
    """What the shape pass keeps of a tensor result.

    ``shape`` is the full shape at batch 1; ``frame`` the per-frame shape (``None`` if the tensor
    does not depend on the batch); ``axis`` where the batch dim sits (``None`` if it has none or
    is merged into another dim, as in ``reshape(B * N, C)``: then ``frame`` is ``shape``).
    """

    shape: Shape
    frame: Shape | None
    axis: int | None


def _frame_of(shape: Shape, shape_b2: Shape | None) -> tuple[Shape | None, int | None]:
    """Per-frame shape and batch axis from the shapes of the same tensor at batch 1 and 2.

    Without a batch-2 shape (that run failed) the batch is taken to be dim 0.

    >>> _frame_of((3, 1, 4, 9, 8), (3, 2, 4, 9, 8)), _frame_of((9, 8), (18, 8))
    (((3, 4, 9, 8), 1), ((9, 8), None))
    >>> _frame_of((1, 5), None), _frame_of((4, 5), (4, 5))
    (((5,), 0), (None, None))
    """
    if shape_b2 is None or len(shape_b2) != len(shape):
        return (shape[1:], 0) if shape and shape[0] == 1 else (None, None)
    grown = [i for i, (a, b) in enumerate(zip(shape, shape_b2, strict=True)) if a != b]
    if len(grown) != 1 or shape_b2[grown[0]] != 2 * shape[grown[0]]:
        return None, None
    axis = grown[0]
    if shape[axis] == 1:
        return shape[:axis] + shape[axis + 1 :], axis
    return shape, None


class _ShapeRecorder(fx.Interpreter):
    """Like ``torch.fx.passes.shape_prop.ShapeProp``, but it keeps non-tensor results (sizes,
    ints) too, records only shapes, and lets a failing node's error through without printing a
    traceback. ``node.meta[key]`` holds the result with each tensor replaced by its shape."""

    def __init__(self, module: fx.GraphModule, key: str) -> None:
        super().__init__(module)
        self.key = key
        self.current: fx.Node | None = None

    def run_node(self, n: fx.Node) -> Any:
        self.current = n
        result = super().run_node(n)
        n.meta[self.key] = map_aggregate(
            result, lambda v: _Shape(tuple(v.shape)) if isinstance(v, torch.Tensor) else v
        )
        return result


class _Root(nn.Module):
    """Holds a bare leaf module (``nn.Conv2d``) under its lower-cased class name and calls it."""

    def __init__(self, child: nn.Module) -> None:
        super().__init__()
        self.child_name = type(child).__name__.lower()
        self.add_module(self.child_name, child)

    def forward(self, x: torch.Tensor) -> Any:
        return getattr(self, self.child_name)(x)


@dataclass(frozen=True)
class _Shape:
    """A tensor's full shape inside a recorded result (not a tuple, so not a python value)."""

    dims: Shape


def _forget_shapes(graph_module: fx.GraphModule) -> None:
    for node in graph_module.graph.nodes:
        node.meta.pop("ctxfit_b1", None)
        node.meta.pop("ctxfit_b2", None)


def _run_meta(graph_module: fx.GraphModule, shape: Shape) -> bool:
    """Record shapes at batch 1 and 2 on the meta device (tensors with a shape and no data).

    Parameters and buffers are swapped for meta twins for the run (and restored); a CPU tensor
    the forward makes (``torch.arange(n)``) moves to meta where an op reads it. Common leaf
    modules and ops take their result from a shape rule without dispatching: torch's meta kernels
    are mostly python (a BatchNorm costs milliseconds) and the first call of one imports
    ``torch._dynamo`` (2 s). False if any op fails on meta tensors (``.item()``, ``.cpu()``,
    ``nonzero``, a missing meta kernel): fake tensors, then real ones, are tried next.
    """
    try:
        with _meta_twins(graph_module), torch.no_grad():
            for batch in (1, 2):
                recorder = _MetaRecorder(graph_module, f"ctxfit_b{batch}")
                recorder.run(torch.empty((batch, *shape[1:]), device="meta"))
    except Exception:
        _forget_shapes(graph_module)
        return False
    return True


@contextlib.contextmanager
def _meta_twins(module: nn.Module) -> Iterator[None]:
    """Swap every parameter and buffer of ``module`` for a meta tensor of the same shape, strides
    and dtype (one twin per shared tensor) while the context runs; restore them on exit."""
    twins: dict[int, torch.Tensor] = {}
    swapped: list[tuple[dict[str, Any], str, torch.Tensor]] = []
    try:
        for sub in module.modules():
            for store in (sub._parameters, sub._buffers):
                for key, value in list(store.items()):
                    if value is None or value.is_meta:
                        continue
                    twin = twins.get(id(value))
                    if twin is None:
                        twin = torch.empty_strided(
                            value.shape, value.stride(), dtype=value.dtype, device="meta"
                        )
                        if isinstance(value, nn.Parameter):
                            twin = nn.Parameter(twin, requires_grad=value.requires_grad)
                        twins[id(value)] = twin
                    swapped.append((store, key, value))
                    store[key] = twin
        yield
    finally:
        for store, key, value in reversed(swapped):
            store[key] = value


def _to_meta(value: Any) -> Any:
    return map_aggregate(
        value, lambda v: v.to("meta") if isinstance(v, torch.Tensor) and not v.is_meta else v
    )


class _MetaRecorder(_ShapeRecorder):
    """A :class:`_ShapeRecorder` on meta tensors that tries the shape rules before dispatching."""

    def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
        args, kwargs = _to_meta(args), _to_meta(kwargs)
        module = self.fetch_attr(target)
        rule = _MODULE_RULES.get(type(module))
        if rule is not None and len(args) == 1 and not kwargs and _row_major(args[0]):
            if not (module._forward_hooks or module._forward_pre_hooks or _global_hooks()):
                out = rule(module, args[0])
                if out is not None:
                    return out
        return super().call_module(target, args, kwargs)

    def call_function(self, target: Any, args: Any, kwargs: Any) -> Any:
        args, kwargs = _to_meta(args), _to_meta(kwargs)
        rule = _FUNCTION_RULES.get(id(target))
        out = rule(args, kwargs) if rule is not None else None
        return out if out is not None else super().call_function(target, args, kwargs)

    def call_method(self, target: Any, args: Any, kwargs: Any) -> Any:
        args, kwargs = _to_meta(args), _to_meta(kwargs)
        rule = _METHOD_RULES.get(target)
        out = rule(args, kwargs) if rule is not None else None
        return out if out is not None else super().call_method(target, args, kwargs)


def _global_hooks() -> bool:
    hooks = nn.modules.module
    return bool(
        getattr(hooks, "_global_forward_hooks", None)
        or getattr(hooks, "_global_forward_pre_hooks", None)
    )


# Shape rules: the result (an empty meta tensor) of a leaf module or an op from its operands'
# shapes, or None where the rule does not apply (the op then runs on meta tensors). A rule takes
# float meta tensors only and gives a contiguous result, so it takes operands whose layout makes
# the op's result contiguous on the CPU too (``_row_major``): that keeps ``.view`` errors.
ModuleRule = Callable[[Any, torch.Tensor], "torch.Tensor | None"]
FunctionRule = Callable[[Any, Any], "torch.Tensor | None"]


def _float_meta(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.is_meta and value.is_floating_point()


def _row_major(value: Any) -> bool:
    """A float meta tensor whose dims (of size > 1) are laid out in order: contiguous, or a
    slice of a contiguous tensor (a ``chunk``). The ops with a rule give such an input a
    contiguous result, as on the CPU (a channels-last input goes to the meta kernel instead).

    >>> x = torch.empty((1, 8, 4, 4), device="meta")
    >>> _row_major(x.chunk(2, 1)[1]), _row_major(x.transpose(2, 3)), _row_major(x.long())
    (True, False, False)
    """
    if not _float_meta(value):
        return False
    strides = [s for n, s in zip(value.shape, value.stride(), strict=True) if n > 1]
    ordered = all(a > b for a, b in zip(strides, strides[1:], strict=False))
    return ordered and (not strides or strides[-1] > 0)


def _ints(value: Any, rank: int) -> tuple[int, ...] | None:
    """``value`` (an int or a sequence of ints) as ``rank`` ints, or None."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank
    ok = len(items) == rank and all(type(i) is int for i in items)
    return items if ok else None


def _broadcast_shape(shapes: Any) -> tuple[int, ...] | None:
    """The broadcast of ``shapes``, or None if they do not broadcast.

    >>> _broadcast_shape([(2, 1, 5), (3, 1)]), _broadcast_shape([(2, 3), (4, 3)])
    ((2, 3, 5), None)
    """
    rank = max(len(s) for s in shapes)
    out = []
    for sizes in zip(*[(1,) * (rank - len(s)) + tuple(s) for s in shapes], strict=True):
        grown = {n for n in sizes if n != 1}
        if len(grown) > 1:
            return None
        out.append(grown.pop() if grown else 1)
    return tuple(out)


def _window(
    sizes: Any, kernel: Any, stride: Any, padding: Any, dilation: Any, *, ceil: bool = False
) -> list[int] | None:
    """Output sizes of a sliding window (torch's ``pooling_output_shape``; conv without ceil).

    >>> _window((7, 8), (3, 3), (2, 2), (0, 0), (1, 1), ceil=True)
    [3, 4]
    """
    rank = len(sizes)
    k, s, p, d = (_ints(v, rank) for v in (kernel, stride, padding, dilation))
    if k is None or s is None or p is None or d is None:
        return None
    out = []
    for n, ki, si, pi, di in zip(sizes, k, s, p, d, strict=True):
        span = n + 2 * pi - di * (ki - 1) - 1
        if min(ki, si, di) < 1 or pi < 0 or span < 0:
            return None
        size = (span + (si - 1 if ceil else 0)) // si + 1
        if ceil and (size - 1) * si >= n + pi:
            size -= 1
        out.append(size)
    return out


def _same_shape_rule(module: Any, x: torch.Tensor) -> torch.Tensor:
    return x.new_empty(x.shape)


def _identity_rule(module: Any, x: torch.Tensor) -> torch.Tensor:
    return x  # nn.Identity and eval-mode nn.Dropout return their input


def _batch_norm_rule(module: Any, x: torch.Tensor) -> torch.Tensor | None:
    ranks = {nn.BatchNorm1d: (2, 3), nn.BatchNorm2d: (4,), nn.BatchNorm3d: (5,)}[type(module)]
    uses_running_stats = not module.training and module.running_mean is not None
    if not uses_running_stats or x.dim() not in ranks or x.shape[1] != module.num_features:
        return None  # batch statistics of one frame fail: let torch say so
    return x.new_empty(x.shape)


def _layer_norm_rule(module: Any, x: torch.Tensor) -> torch.Tensor | None:
    normalized = tuple(module.normalized_shape)
    if x.dim() < len(normalized) or tuple(x.shape[x.dim() - len(normalized) :]) != normalized:
        return None
    return x.new_empty(x.shape)


def _conv_rule(module: Any, x: torch.Tensor) -> torch.Tensor | None:
    w = module.weight
    if module.padding_mode != "zeros" or isinstance(module.padding, str) or x.dim() != w.dim():
        return None
    if x.shape[1] != w.shape[1] * module.groups or x.dtype != w.dtype or not w.is_contiguous():
        return None
    sizes = _window(x.shape[2:], w.shape[2:], module.stride, module.padding, module.dilation)
    return None if sizes is None else x.new_empty((x.shape[0], w.shape[0], *sizes))


def _linear_rule(module: Any, x: torch.Tensor) -> torch.Tensor | None:
    w = module.weight
    if x.dim() < 1 or x.shape[-1] != w.shape[1] or x.dtype != w.dtype:
        return None
    return x.new_empty((*x.shape[:-1], w.shape[0]))


def _max_pool_rule(module: Any, x: torch.Tensor) -> torch.Tensor | None:
    kernel, padding = _ints(module.kernel_size, 2), _ints(module.padding, 2)
    if module.return_indices or x.dim() != 4 or kernel is None or padding is None:
        return None
    if any(p > k // 2 for p, k in zip(padding, kernel, strict=True)):
        return None
    sizes = _window(
        x.shape[2:], kernel, module.stride, padding, module.dilation, ceil=module.ceil_mode
    )
    return None if sizes is None else x.new_empty((*x.shape[:2], *sizes))


def _adaptive_pool_rule(module: Any, x: torch.Tensor) -> torch.Tensor | None:
    size = module.output_size
    size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    if x.dim() != 4 or len(size) != 2:
        return None
    out = [n if o is None else o for n, o in zip(x.shape[2:], size, strict=True)]
    if not all(type(o) is int and o >= 1 for o in out):
        return None
    return x.new_empty((*x.shape[:2], *out))


def _upsample_rule(module: Any, x: torch.Tensor) -> torch.Tensor | None:
    rank = x.dim() - 2
    if module.mode != "nearest" or module.align_corners is not None or rank not in (1, 2, 3):
        return None
    if module.size is not None:
        out = _ints(module.size, rank)
    elif module.scale_factor is not None:
        scales = module.scale_factor
        scales = tuple(scales) if isinstance(scales, (tuple, list)) else (scales,) * rank
        if len(scales) != rank or not all(isinstance(s, (int, float)) for s in scales):
            return None
        out = tuple(math.floor(float(n) * s) for n, s in zip(x.shape[2:], scales, strict=True))
    else:
        return None
    if out is None or not all(o >= 1 for o in out):
        return None
    return x.new_empty((*x.shape[:2], *out))


def _pixel_unshuffle_rule(module: Any, x: torch.Tensor) -> torch.Tensor | None:
    r = module.downscale_factor
    if x.dim() < 3 or type(r) is not int or r < 1 or x.shape[-2] % r or x.shape[-1] % r:
        return None
    c, h, w = x.shape[-3:]
    return x.new_empty((*x.shape[:-3], c * r * r, h // r, w // r))


def _pixel_shuffle_rule(module: Any, x: torch.Tensor) -> torch.Tensor | None:
    r = module.upscale_factor
    if x.dim() < 3 or type(r) is not int or r < 1 or x.shape[-3] % (r * r):
        return None
    c, h, w = x.shape[-3:]
    return x.new_empty((*x.shape[:-3], c // (r * r), h * r, w * r))


_MODULE_RULES: dict[type, ModuleRule] = {
    **dict.fromkeys([nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Sigmoid, nn.Tanh], _same_shape_rule),
    nn.Identity: _identity_rule,
    nn.Dropout: _identity_rule,
    **dict.fromkeys(
        [nn.Hardswish, nn.Hardsigmoid, nn.LeakyReLU, nn.ELU, nn.Mish, nn.Softplus, nn.Hardtanh],
        _same_shape_rule,
    ),
    **dict.fromkeys([nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d], _batch_norm_rule),
    nn.LayerNorm: _layer_norm_rule,
    **dict.fromkeys([nn.Conv1d, nn.Conv2d, nn.Conv3d], _conv_rule),
    nn.Linear: _linear_rule,
    nn.MaxPool2d: _max_pool_rule,
    nn.AdaptiveAvgPool2d: _adaptive_pool_rule,
    nn.Upsample: _upsample_rule,
    nn.PixelUnshuffle: _pixel_unshuffle_rule,
    nn.PixelShuffle: _pixel_shuffle_rule,
}


def _elementwise_rule(args: Any, kwargs: Any) -> torch.Tensor | None:
    """``a + b`` (``-``, ``*``, ``/``) of same-dtype float tensors or a tensor and a number."""
    if kwargs or len(args) != 2:
        return None
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    numbers = [a for a in args if not isinstance(a, torch.Tensor)]
    if not tensors or any(type(a) not in (int, float) for a in numbers):
        return None
    if not all(_row_major(t) for t in tensors) or len({t.dtype for t in tensors}) != 1:
        return None
    shape = _broadcast_shape([t.shape for t in tensors])
    return None if shape is None else tensors[0].new_empty(shape)


def _cat_rule(args: Any, kwargs: Any) -> torch.Tensor | None:
    if len(args) > 2 or set(kwargs) - {"tensors", "dim"}:
        return None
    tensors = args[0] if args else kwargs.get("tensors")
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not isinstance(tensors, (tuple, list)) or not tensors or type(dim) is not int:
        return None
    first = tensors[0]
    if not all(_float_meta(t) and t.dtype == first.dtype for t in tensors):
        return None
    # the result takes the inputs' memory format, which only a 4-d or 5-d tensor can vary
    rank = first.dim()
    if any(t.dim() != rank or (rank in (4, 5) and not _row_major(t)) for t in tensors):
        return None
    if not -rank <= dim < rank:
        return None
    dim %= rank
    if any(
        t.shape[:dim] + t.shape[dim + 1 :] != first.shape[:dim] + first.shape[dim + 1 :]
        for t in tensors
    ):
        return None
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    return first.new_empty(shape)


def _matmul_rule(args: Any, kwargs: Any) -> torch.Tensor | None:
    """``a @ b`` of two float tensors of rank >= 2 (any strides: the result is contiguous)."""
    if kwargs or len(args) != 2:
        return None
    a, b = args
    if not (_float_meta(a) and _float_meta(b) and a.dtype == b.dtype):
        return None
    if a.dim() < 2 or b.dim() < 2 or a.shape[-1] != b.shape[-2]:
        return None
    batch = _broadcast_shape([a.shape[:-2], b.shape[:-2]])
    return None if batch is None else a.new_empty((*batch, a.shape[-2], b.shape[-1]))


def _softmax_rule(args: Any, kwargs: Any) -> torch.Tensor | None:
    if len(args) > 2 or set(kwargs) - {"input", "dim"}:
        return None
    x = args[0] if args else kwargs.get("input")
    dim = args[1] if len(args) > 1 else kwargs.get("dim")
    if not _row_major(x) or type(dim) is not int or not -max(x.dim(), 1) <= dim < max(x.dim(), 1):
        return None
    return x.new_empty(x.shape)


_ARITHMETIC = (operator.add, operator.sub, operator.mul, operator.truediv)
_FUNCTION_RULES: dict[int, FunctionRule] = {
    **{id(f): _elementwise_rule for f in (*_ARITHMETIC, torch.add, torch.sub, torch.mul)},
    **{id(f): _cat_rule for f in (torch.cat, torch.concat)},
    **{id(f): _matmul_rule for f in (operator.matmul, torch.matmul)},
    **{id(f): _softmax_rule for f in (torch.softmax, F.softmax)},
}
_METHOD_RULES: dict[str, FunctionRule] = {
    **dict.fromkeys(["add", "sub", "mul", "div"], _elementwise_rule),
    "matmul": _matmul_rule,
    "softmax": _softmax_rule,
}


def _run_fake(graph_module: fx.GraphModule, shape: Shape) -> bool:
    """Record shapes at batch 1 and 2 with fake tensors (no arithmetic: 7x faster than real
    tensors on YOLOv8x). False if any op does not support fake tensors (or anything fails)."""
    try:
        from torch._subclasses.fake_tensor import FakeTensorMode

        for batch in (1, 2):
            with FakeTensorMode(allow_non_fake_inputs=True):
                recorder = _ShapeRecorder(graph_module, f"ctxfit_b{batch}")
                recorder.run(torch.zeros((batch, *shape[1:])))
    except Exception:
        _forget_shapes(graph_module)
        return False
    return True


def _run_real(graph_module: fx.GraphModule, shape: Shape, class_name: str) -> None:
    """Record shapes on zero tensors at batch 1 (errors name the shape), then at batch 2 (a
    model that hard-codes batch 1 fails there: the batch is then taken to be dim 0)."""
    recorder = _ShapeRecorder(graph_module, "ctxfit_b1")
    try:
        with torch.no_grad():
            recorder.run(torch.zeros(shape))
    except Exception as err:
        node = recorder.current
        where = f" at node {node.name!r} ({_location(node)})" if node is not None else ""
        raise ModelImportError(
            f"{class_name}.forward fails on an input of shape {shape!r}{where}: "
            f"{type(err).__name__}: {_first_line(err)}; pass the input shape the model expects"
        ) from err
    try:
        with torch.no_grad():
            _ShapeRecorder(graph_module, "ctxfit_b2").run(torch.zeros((2, *shape[1:])))
    except Exception:
        for node in graph_module.graph.nodes:
            node.meta.pop("ctxfit_b2", None)


def _shapes_in(recorded: Any) -> list[Shape]:
    found: list[Shape] = []
    map_aggregate(recorded, lambda v: found.append(v.dims) if isinstance(v, _Shape) else None)
    return found


def _record_shapes(graph_module: fx.GraphModule, shape: Shape, class_name: str) -> None:
    """Run the graph at batch 1 (errors name the shape) and at batch 2 (to find the batch dim of
    every tensor, wherever reshapes and permutes moved it); store ``_TensorMeta``s in
    ``node.meta["ctxfit"]``."""
    if not (_run_meta(graph_module, shape) or _run_fake(graph_module, shape)):
        _run_real(graph_module, shape, class_name)
    for node in graph_module.graph.nodes:
        shapes_b2 = _shapes_in(node.meta.get("ctxfit_b2"))[::-1]

        def complete(v: Any, shapes_b2: list[Shape] = shapes_b2) -> Any:
            if not isinstance(v, _Shape):
                return v
            frame, axis = _frame_of(v.dims, shapes_b2.pop() if shapes_b2 else None)
            return _TensorMeta(shape=v.dims, frame=frame, axis=axis)

        node.meta["ctxfit"] = map_aggregate(node.meta.get("ctxfit_b1"), complete)


_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in [^\n]*\n(?P<code>[^\n]*)')


def _location(node: fx.Node) -> str:
    """``file.py:LINE: code`` of the innermost user frame of the node's stack trace.

    >>> class _N:
    ...     stack_trace = 'File "/m/model.py", line 42, in forward\\n    y = torch.fft.fft2(x)\\n'
    >>> _location(_N())
    'model.py:42: y = torch.fft.fft2(x)'
    """
    frames = [
        m
        for m in _FRAME.finditer(node.stack_trace or "")
        if not m["file"].startswith(_LIBRARY_DIRS)
    ]
    if not frames:
        return "no source line recorded"
    last = frames[-1]
    return f"{Path(last['file']).name}:{last['line']}: {last['code'].strip()}"


# -- constants -------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class _Const:
    """A tensor computed from parameters/buffers only: its full shape and the parameters it was
    computed from, as ``(id, numel)`` pairs (so ``w - w.mean()`` counts ``w`` once)."""

    shape: Shape
    learned: frozenset[tuple[int, int]]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def params(self) -> int:
        return sum(n for _, n in self.learned)


class _Unsupported(Exception):
    """Raised by a handler that cannot map its node; becomes UnsupportedOperatorError."""


def _refs_in(value: Any) -> list[TensorRef]:
    """The activation refs in a nested args structure, in order."""
    found: list[TensorRef] = []
    map_aggregate(value, lambda v: found.append(v) if isinstance(v, TensorRef) else None)
    return found


def _learned(value: Any) -> frozenset[tuple[int, int]]:
    """The parameters (``(id, numel)``) behind the constants in ``value``."""
    found: set[tuple[int, int]] = set()
    map_aggregate(value, lambda v: found.update(v.learned) if isinstance(v, _Const) else None)
    return frozenset(found)


def _const_params(value: Any) -> int:
    """Learned parameters behind the constants in ``value``, each parameter once."""
    return sum(n for _, n in _learned(value))


def _op_name(node: fx.Node, module: nn.Module | None) -> str:
    if node.op == "call_module" and module is not None:
        cls = type(module)
        prefix = "torch.nn" if cls.__module__.startswith("torch.nn") else cls.__module__
        return f"{prefix}.{cls.__qualname__}"
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    return _public_names().get(id(node.target), str(getattr(node.target, "__name__", node.target)))


@functools.cache
def _public_names() -> dict[int, str]:
    """Public dotted names of torch functions (``torch.fft.fft2``), keyed by object id."""
    names: dict[int, str] = {}
    namespaces = [
        ("torch", torch),
        ("torch.nn.functional", F),
        ("torch.fft", torch.fft),
        ("torch.linalg", torch.linalg),
        ("torch.special", torch.special),
        ("operator", operator),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for prefix, namespace in namespaces:
            for attr in dir(namespace):
                value = getattr(namespace, attr, None)
                if not attr.startswith("_") and callable(value):
                    names[id(value)] = f"{prefix}.{attr}"
    return names


# -- the importer ----------------------------------------------------------------------------------
@dataclass
class _Call:
    """One call node being mapped: its resolved operands, result shapes and builder."""

    node: fx.Node
    name: str
    source: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    out: Any
    module: nn.Module | None
    b: GraphBuilder

    def arg(self, index: int, key: str, default: Any = None) -> Any:
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(key, default)

    def ref(self, index: int = 0, key: str = "input") -> TensorRef:
        value = self.arg(index, key)
        if not isinstance(value, TensorRef):
            raise _Unsupported(f"operand {key!r} is not an activation tensor")
        return value

    @property
    def out_shape(self) -> Shape:
        return _frame(self.out, self.node)

    @property
    def in_meta(self) -> _TensorMeta:
        """The recorded meta of the first operand (a tensor)."""
        first = self.node.args[0] if self.node.args else next(iter(self.node.kwargs.values()))
        meta = first.meta.get("ctxfit") if isinstance(first, fx.Node) else None
        if not isinstance(meta, _TensorMeta):
            raise _Unsupported("its first operand is not a tensor")
        return meta

    def frame_dims(self, dims: Any) -> list[int]:
        """Full-tensor dim indices (negative allowed) as per-frame indices."""
        meta = self.in_meta
        full = [int(d) % len(meta.shape) for d in ((dims,) if isinstance(dims, int) else dims)]
        if meta.axis is None:
            return full
        if meta.axis in full:
            raise _Unsupported("it operates across the batch dim")
        return [d - (d > meta.axis) for d in full]

    @property
    def module_params(self) -> int:
        assert self.module is not None
        return sum(p.numel() for p in self.module.parameters())


def _frame(meta: Any, node: fx.Node) -> Shape:
    """Per-frame shape of a tensor result (batch dim dropped)."""
    if not isinstance(meta, _TensorMeta):
        raise _Unsupported(f"it returns {type(meta).__name__}, not one tensor")
    if meta.frame is None:
        raise ModelImportError(
            f"node {node.name!r} ({_location(node)}) produces a tensor of shape {meta.shape!r} "
            "with no batch dim; ctxfit needs every activation to keep the batch"
        )
    return meta.frame


class _Importer:
    def __init__(self, graph_module: fx.GraphModule, name: str) -> None:
        self.gm = graph_module
        self.b = GraphBuilder(name)
        self.env: dict[fx.Node, Any] = {}
        self.modules = dict(graph_module.named_modules())

    def run(self) -> Network:
        for node in self.gm.graph.nodes:
            self.env[node] = self._visit(node)
        return self.b.build()

    def _visit(self, node: fx.Node) -> Any:
        meta = node.meta.get("ctxfit")
        if node.op == "placeholder":
            return self._placeholder(node, meta)
        if node.op == "get_attr":
            return self._get_attr(node)
        if node.op == "output":
            return self._output(node)
        args = fx.node.map_arg(node.args, self.env.__getitem__)
        kwargs = fx.node.map_arg(node.kwargs, self.env.__getitem__)
        module = self.modules[node.target] if node.op == "call_module" else None
        holds_tensor: list[bool] = []
        map_aggregate(meta, lambda v: holds_tensor.append(isinstance(v, _TensorMeta)))
        if not any(holds_tensor):
            return meta  # a python value: a size, an int, None
        if not any(_refs_in((args, kwargs))) or _shape_only(node):
            own = module.parameters() if module is not None else ()
            learned = _learned((args, kwargs)) | {(id(p), p.numel()) for p in own}
            return _constant(meta, frozenset(learned))
        call = _Call(
            node=node,
            name=_layer_name(node),
            source="",
            args=tuple(args),
            kwargs=dict(kwargs),
            out=meta,
            module=module,
            b=self.b,
        )
        op = _op_name(node, module)
        call.source = f"{op} ({_location(node)})"
        handler = _find_handler(node, module)
        try:
            if handler is None:
                raise _Unsupported("")
            return handler(call)
        except _Unsupported as err:
            reason = f": {err}" if str(err) else ""
            raise UnsupportedOperatorError(
                f"unsupported operator {op} at node {node.name!r} ({_location(node)}){reason}; "
                "ctxfit cannot price it — replace it or cut the graph before it"
            ) from None
        except ModelImportError:
            raise
        except Exception as err:
            raise ModelImportError(
                f"while importing node {node.name!r} ({op}, {_location(node)}): "
                f"{type(err).__name__}: {_first_line(err)}"
            ) from err

    def _placeholder(self, node: fx.Node, meta: Any) -> Any:
        if node.args:  # an argument left at its default value
            return _constant(meta, frozenset())
        return self.b.input(str(node.target), _frame(meta, node))

    def _get_attr(self, node: fx.Node) -> Any:
        value: Any = self.gm
        for part in str(node.target).split("."):
            value = getattr(value, part)
        if isinstance(value, torch.Tensor):
            learned = {(id(value), value.numel())} if isinstance(value, nn.Parameter) else set()
            return _Const(shape=tuple(value.shape), learned=frozenset(learned))
        return value

    def _output(self, node: fx.Node) -> None:
        refs = _refs_in(fx.node.map_arg(node.args[0], self.env.__getitem__))
        if not refs:
            raise ModelImportError(
                "the module returns no tensor computed from its input; nothing to import"
            )
        for ref in dict.fromkeys(refs):
            self.b.mark_output(ref)


def _constant(meta: Any, learned: frozenset[tuple[int, int]]) -> Any:
    """Constants for a constant-only node's result(s), each computed from ``learned``."""

    def make(v: Any) -> Any:
        return _Const(shape=v.shape, learned=learned) if isinstance(v, _TensorMeta) else v

    return map_aggregate(meta, make)


def _layer_name(node: fx.Node) -> str:
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack") or {}
    scope = list(stack.values())[-1][0] if stack else ""
    return f"{scope}.{node.name}" if scope else node.name


def _shape_only(node: fx.Node) -> bool:
    """True for ops whose result depends on an activation's shape only (``zeros_like``)."""
    if node.op == "call_method":
        return node.target in _SHAPE_ONLY
    return node.op == "call_function" and id(node.target) in _SHAPE_ONLY


Handler = Callable[[_Call], Any]
_MODULES: dict[type, Handler] = {}
_FUNCTIONS: dict[int, Handler] = {}
_METHODS: dict[str, Handler] = {}
_SHAPE_ONLY: set[Any] = set()


def _find_handler(node: fx.Node, module: nn.Module | None) -> Handler | None:
    if node.op == "call_module":
        assert module is not None
        for cls in type(module).__mro__:
            if cls in _MODULES:
                return _MODULES[cls]
        return None
    if node.op == "call_method":
        return _METHODS.get(str(node.target))
    return _FUNCTIONS.get(id(node.target))


def _register(*keys: Any) -> Callable[[Handler], Handler]:
    """Register a handler for module classes, functions and method names (strings)."""

    def add(handler: Handler) -> Handler:
        for key in keys:
            if isinstance(key, type) and issubclass(key, nn.Module):
                _MODULES[key] = handler
            elif isinstance(key, str):
                _METHODS[key] = handler
            else:
                _FUNCTIONS[id(key)] = handler
        return handler

    return add


def _both(*names: str, module: Any = torch) -> list[Any]:
    """Method names plus the same-named functions of ``module`` that exist."""
    return [*names, *(getattr(module, n) for n in names if hasattr(module, n))]


# -- handlers: layers with weights -----------------------------------------------------------------
@_register(nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)
def _conv_module(c: _Call) -> TensorRef:
    m = c.module
    assert isinstance(m, nn.modules.conv._ConvNd)
    return c.b.conv(
        c.name,
        c.ref(),
        out_shape=c.out_shape,
        kernel=m.kernel_size,
        stride=m.stride,
        dilation=m.dilation,
        groups=m.groups,
        params=c.module_params,
        transposed=m.transposed,
        source=c.source,
    )


@_register(F.conv1d, F.conv2d, F.conv_transpose1d, F.conv_transpose2d)
def _conv_function(c: _Call) -> TensorRef:
    weight = c.arg(1, "weight")
    if not isinstance(weight, _Const):
        raise _Unsupported("its weight is an activation, not a parameter")
    transposed = c.node.target in (F.conv_transpose1d, F.conv_transpose2d)
    # conv2d(input, weight, bias, stride, padding, dilation, groups);
    # conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)
    stride, groups = c.arg(3, "stride", 1), c.arg(6, "groups", 1)
    dilation = c.arg(7 if transposed else 5, "dilation", 1)
    return c.b.conv(
        c.name,
        c.ref(),
        out_shape=c.out_shape,
        kernel=weight.shape[2:],
        stride=stride,
        dilation=dilation,
        groups=groups,
        params=_const_params((c.args, c.kwargs)),
        transposed=transposed,
        source=c.source,
    )


@_register(nn.Linear)
def _linear_module(c: _Call) -> TensorRef:
    return c.b.dense(
        c.name, c.ref(), out_shape=c.out_shape, params=c.module_params, source=c.source
    )


@_register(F.linear)
def _linear_function(c: _Call) -> TensorRef:
    if not isinstance(c.arg(1, "weight"), _Const):
        raise _Unsupported("its weight is an activation, not a parameter")
    params = _const_params((c.args, c.kwargs))
    return c.b.dense(c.name, c.ref(), out_shape=c.out_shape, params=params, source=c.source)


@_register(nn.BatchNorm1d, nn.BatchNorm2d)
def _batch_norm_module(c: _Call) -> TensorRef:
    return c.b.batch_norm(c.name, c.ref(), params=c.module_params, source=c.source)


@_register(F.batch_norm)
def _batch_norm_function(c: _Call) -> TensorRef:
    params = _const_params((c.args, c.kwargs))
    return c.b.batch_norm(c.name, c.ref(), params=params, source=c.source)


@_register(nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d)
def _norm_module(c: _Call) -> TensorRef:
    return c.b.layer(
        c.name,
        OpKind.NORM,
        [c.ref()],
        out_shape=c.out_shape,
        params=c.module_params,
        source=c.source,
    )


@_register(F.layer_norm, F.group_norm, F.instance_norm)
def _norm_function(c: _Call) -> TensorRef:
    params = _const_params((c.args, c.kwargs))
    return c.b.layer(
        c.name, OpKind.NORM, [c.ref()], out_shape=c.out_shape, params=params, source=c.source
    )


# -- handlers: activations -------------------------------------------------------------------------
_ACTIVATION_MODULES = {
    nn.ReLU: "relu",
    nn.ReLU6: "relu6",
    nn.SiLU: "silu",
    nn.GELU: "gelu",
    nn.Sigmoid: "sigmoid",
    nn.Hardswish: "hardswish",
    nn.Hardsigmoid: "hardsigmoid",
    nn.LeakyReLU: "leaky_relu",
    nn.Tanh: "tanh",
    nn.ELU: "elu",
    nn.Mish: "mish",
    nn.Softplus: "softplus",
    nn.Hardtanh: "hardtanh",
    nn.PReLU: "prelu",
}
_ACTIVATION_FUNCTIONS = {
    "relu": "relu",
    "relu6": "relu6",
    "silu": "silu",
    "gelu": "gelu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "hardswish": "hardswish",
    "hardsigmoid": "hardsigmoid",
    "leaky_relu": "leaky_relu",
    "elu": "elu",
    "mish": "mish",
    "softplus": "softplus",
    "hardtanh": "hardtanh",
    "prelu": "prelu",
    "erf": "erf",
    "exp": "exp",
    "sqrt": "sqrt",
    "rsqrt": "rsqrt",
    "abs": "abs",
    "clamp": "clip",
    "clip": "clip",
    "clamp_min": "clip",
    "clamp_max": "clip",
}


def _activation_handler(function: str) -> Handler:
    def handle(c: _Call) -> TensorRef:
        params = c.module_params if c.module is not None else _const_params((c.args, c.kwargs))
        return c.b.activation(c.name, c.ref(), function, params=params, source=c.source)

    return handle


for _cls, _function in _ACTIVATION_MODULES.items():
    _register(_cls)(_activation_handler(_function))
for _method, _function in _ACTIVATION_FUNCTIONS.items():
    _keys = [_method, _method + "_", *_both(_method), getattr(F, _method, None)]
    _keys += [getattr(torch.special, _method, None), getattr(F, _method + "_", None)]
    _register(*[k for k in _keys if k is not None])(_activation_handler(_function))


@_register("pow", "pow_", torch.pow, operator.pow, operator.ipow)
def _pow(c: _Call) -> TensorRef:
    base, exponent = c.arg(0, "input"), c.arg(1, "exponent")
    if isinstance(base, TensorRef) and not isinstance(exponent, TensorRef):
        return c.b.activation(c.name, base, "pow", source=c.source)
    if isinstance(exponent, TensorRef) and not isinstance(base, TensorRef):
        return c.b.activation(c.name, exponent, "exp", source=c.source)
    raise _Unsupported("a tensor raised to a tensor power")


# -- handlers: elementwise arithmetic --------------------------------------------------------------
def _arith_handler(op: OpKind) -> Handler:
    def handle(c: _Call) -> TensorRef:
        a, b = c.arg(0, "input"), c.arg(1, "other")
        if isinstance(a, TensorRef) and isinstance(b, TensorRef):
            return c.b.elementwise(c.name, op, [a, b], out_shape=c.out_shape, source=c.source)
        ref, other = (a, b) if isinstance(a, TensorRef) else (b, a)
        if isinstance(other, _Const) and other.params and other.numel >= math.prod(ref.shape):
            return c.b.elementwise(
                c.name, op, [ref], out_shape=c.out_shape, params=other.params, source=c.source
            )
        params = other.params if isinstance(other, _Const) else 0
        return c.b.affine(c.name, ref, out_shape=c.out_shape, params=params, source=c.source)

    return handle


_register(
    *_both("add", "sub", "rsub", "subtract"),
    "add_",
    "sub_",
    "__radd__",
    "__rsub__",
    operator.add,
    operator.sub,
    operator.iadd,
    operator.isub,
)(_arith_handler(OpKind.ADD))
_register(
    *_both("mul", "div", "true_divide", "multiply", "divide"),
    "mul_",
    "div_",
    "__rmul__",
    "__rtruediv__",
    operator.mul,
    operator.truediv,
    operator.imul,
    operator.itruediv,
)(_arith_handler(OpKind.MUL))


@_register(*_both("neg"), operator.neg)
def _negate(c: _Call) -> TensorRef:
    return c.b.affine(c.name, c.ref(), source=c.source)


# -- handlers: layers without weights --------------------------------------------------------------
@_register(*_both("matmul", "bmm", "mm"), operator.matmul)
def _matmul(c: _Call) -> TensorRef:
    a, b = c.arg(0, "input"), c.arg(1, "other", c.arg(1, "mat2"))
    if isinstance(a, TensorRef) and isinstance(b, TensorRef):
        return c.b.matmul(c.name, a, b, out_shape=c.out_shape, source=c.source)
    if isinstance(a, TensorRef) and isinstance(b, _Const):
        return c.b.dense(c.name, a, out_shape=c.out_shape, params=b.params, source=c.source)
    raise _Unsupported("a constant matrix times an activation")


@_register(F.scaled_dot_product_attention)
def _attention(c: _Call) -> TensorRef:
    q, k, v = c.ref(0, "query"), c.ref(1, "key"), c.ref(2, "value")
    scores_shape = (*q.shape[:-1], k.shape[-2])
    scores = c.b.matmul(c.name + "_qk", q, k, out_shape=scores_shape, source=c.source)
    attn = c.b.layer(
        c.name + "_softmax", OpKind.SOFTMAX, [scores], out_shape=scores_shape, source=c.source
    )
    return c.b.matmul(c.name, attn, v, out_shape=c.out_shape, source=c.source)


@_register(nn.MultiheadAttention)
def _multihead_attention(c: _Call) -> tuple[TensorRef, TensorRef | None]:
    m = c.module
    assert isinstance(m, nn.MultiheadAttention)
    if not m.batch_first:
        raise _Unsupported("batch_first=False puts the sequence first; use batch_first=True")
    q, k, v = c.ref(0, "query"), c.ref(1, "key"), c.ref(2, "value")
    heads, dim = m.num_heads, m.embed_dim
    (length, _), (keys, _) = q.shape, k.shape
    bias = dim if m.in_proj_bias is not None else 0
    extra_k = m.bias_k.numel() if m.bias_k is not None else 0
    extra_v = m.bias_v.numel() if m.bias_v is not None else 0
    if q == k == v and m._qkv_same_embed_dim:
        assert m.in_proj_weight is not None
        params = m.in_proj_weight.numel() + 3 * bias + extra_k + extra_v
        qkv = c.b.dense(
            c.name + ".in_proj", q, out_shape=(length, 3 * dim), params=params, source=c.source
        )
        qs, ks, vs = c.b.split(
            c.name + ".split", qkv, [(length, dim), (keys, dim), (keys, dim)], source=c.source
        )
    else:
        if m._qkv_same_embed_dim:
            assert m.in_proj_weight is not None
            weights = [dim * dim] * 3
        else:
            weights = [w.numel() for w in (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight)]
        qs, ks, vs = (
            c.b.dense(
                f"{c.name}.{part}_proj",
                src,
                out_shape=(src.shape[0], dim),
                params=w + bias + extra,
                source=c.source,
            )
            for part, src, w, extra in zip(
                "qkv", (q, k, v), weights, (0, extra_k, extra_v), strict=True
            )
        )
    head_dim = dim // heads
    scores = c.b.matmul(
        c.name + ".qk",
        c.b.view(qs, (heads, length, head_dim)),
        c.b.view(ks, (heads, keys, head_dim)),
        out_shape=(heads, length, keys),
        source=c.source,
    )
    attn = c.b.layer(
        c.name + ".softmax", OpKind.SOFTMAX, [scores], out_shape=scores.shape, source=c.source
    )
    context = c.b.matmul(
        c.name + ".av",
        attn,
        c.b.view(vs, (heads, keys, head_dim)),
        out_shape=(heads, length, head_dim),
        source=c.source,
    )
    out = c.b.dense(
        c.name + ".out_proj",
        c.b.view(context, (length, dim)),
        out_shape=(length, dim),
        params=sum(p.numel() for p in m.out_proj.parameters()),
        source=c.source,
    )
    weights_meta = c.out[1] if isinstance(c.out, tuple) else None
    weights_ref = (
        c.b.view(attn, _frame(weights_meta, c.node))
        if isinstance(weights_meta, _TensorMeta)
        else None
    )
    return out, weights_ref


@_register(*_both("softmax", "log_softmax"), F.softmax, F.log_softmax, nn.Softmax, nn.LogSoftmax)
def _softmax(c: _Call) -> TensorRef:
    return c.b.layer(c.name, OpKind.SOFTMAX, [c.ref()], out_shape=c.out_shape, source=c.source)


def _pool_handler(op: OpKind) -> Handler:
    def handle(c: _Call) -> TensorRef:
        if c.module is not None:
            kernel, stride = c.module.kernel_size, c.module.stride  # type: ignore[union-attr]
        else:
            kernel = c.arg(1, "kernel_size")
            stride = c.arg(2, "stride") or kernel
        return c.b.layer(
            c.name,
            op,
            [c.ref()],
            out_shape=c.out_shape,
            kernel=kernel,
            stride=stride,
            source=c.source,
        )

    return handle


_register(nn.MaxPool1d, nn.MaxPool2d, F.max_pool1d, F.max_pool2d)(_pool_handler(OpKind.MAXPOOL))
_register(nn.AvgPool1d, nn.AvgPool2d, F.avg_pool1d, F.avg_pool2d)(_pool_handler(OpKind.AVGPOOL))


def _adaptive_handler(op: OpKind) -> Handler:
    def handle(c: _Call) -> TensorRef:
        src, out = c.ref(), c.out_shape
        if out == src.shape:
            return c.b.view(src, out)
        if all(d == 1 for d in out[1:]):
            return c.b.layer(
                c.name,
                OpKind.GLOBAL_POOL,
                [src],
                out_shape=out,
                kernel=src.shape[1:],
                source=c.source,
            )
        kernel = [i // o for i, o in zip(src.shape[1:], out[1:], strict=True)]
        return c.b.layer(
            c.name, op, [src], out_shape=out, kernel=kernel, stride=kernel, source=c.source
        )

    return handle


_register(nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d)(
    _adaptive_handler(OpKind.AVGPOOL)
)
_register(nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, F.adaptive_max_pool1d, F.adaptive_max_pool2d)(
    _adaptive_handler(OpKind.MAXPOOL)
)


@_register(*_both("mean"))
def _mean(c: _Call) -> TensorRef:
    src = c.ref()
    if c.arg(1, "dim") is None:
        raise _Unsupported("a mean over every dim, batch included")
    dims = set(c.frame_dims(c.arg(1, "dim")))
    spatial = set(range(1, len(src.shape))) if len(src.shape) >= 3 else {0}
    if dims != spatial:
        raise _Unsupported(
            f"a mean over per-frame dims {sorted(dims)} of a {src.shape} tensor; ctxfit prices a "
            "mean over all spatial dims (or over the tokens of an (N, D) tensor)"
        )
    return c.b.layer(
        c.name,
        OpKind.GLOBAL_POOL,
        [src],
        out_shape=c.out_shape,
        kernel=[src.shape[d] for d in sorted(dims)],
        source=c.source,
    )


@_register(*_both("argmax"))
def _argmax(c: _Call) -> TensorRef:
    """Hailo's on-chip argmax: over the channels of a ``(C, H, W)`` feature map (a segmentation
    network's class scores), one class index per pixel."""
    src = c.ref()
    if c.arg(1, "dim") is None:
        raise _Unsupported("an argmax over the flattened tensor")
    dims = set(c.frame_dims(c.arg(1, "dim")))
    if len(src.shape) != 3 or dims != {0}:
        raise _Unsupported(
            f"an argmax over per-frame dims {sorted(dims)} of a "
            f"{src.shape} tensor; ctxfit prices the argmax over the channels of a (C, H, W) "
            "feature map, as Hailo's chip runs it"
        )
    labels = (1, *src.shape[1:])  # one index per pixel, whether or not the call keeps the dim
    ref = c.b.layer(c.name, OpKind.ARGMAX, [src], out_shape=labels, source=c.source)
    return ref if c.out_shape == labels else c.b.view(ref, c.out_shape)


@_register(
    nn.Upsample,
    nn.UpsamplingNearest2d,
    nn.UpsamplingBilinear2d,
    F.interpolate,
    F.upsample,
    F.upsample_nearest,
    F.upsample_bilinear,
    *_both("expand", "expand_as", "repeat", "repeat_interleave"),
)
def _resize(c: _Call) -> TensorRef:
    src = c.ref()
    if math.prod(c.out_shape) == math.prod(src.shape):
        return c.b.view(src, c.out_shape)
    return c.b.layer(c.name, OpKind.RESIZE, [src], out_shape=c.out_shape, source=c.source)


@_register(F.pad, nn.ZeroPad1d, nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d)
@_register(nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReplicationPad1d, nn.ReplicationPad2d)
def _pad(c: _Call) -> TensorRef:
    return c.b.pad(c.name, c.ref(), out_shape=c.out_shape, source=c.source)


@_register(*_both("cat", "concat", "concatenate", "stack"))
def _concat(c: _Call) -> TensorRef:
    items = list(c.arg(0, "tensors"))
    refs = [t for t in items if isinstance(t, TensorRef)]
    params = _const_params(items)
    if len(refs) == 1 and params == 0 and len(items) == 1:
        return c.b.view(refs[0], c.out_shape)
    return c.b.layer(
        c.name, OpKind.CONCAT, refs, out_shape=c.out_shape, params=params, source=c.source
    )


@_register(*_both("chunk", "split", "unbind", "tensor_split", "split_with_sizes"))
def _split(c: _Call) -> tuple[TensorRef, ...]:
    src = c.ref()
    parts = [_frame(meta, c.node) for meta in c.out]
    if len(parts) == 1 and parts[0] == src.shape:
        return (c.b.view(src, parts[0]),)
    return c.b.split(c.name, src, parts, source=c.source)


@_register(operator.getitem)
def _getitem(c: _Call) -> Any:
    src, index = c.arg(0, "a"), c.arg(1, "b")
    if not isinstance(src, TensorRef):
        return src[index]  # an element of a tuple of tensors
    items = index if isinstance(index, tuple) else (index,)
    if any(isinstance(item, TensorRef | _Const) for item in items):
        raise _Unsupported("indexing with a tensor (a gather)")
    dims = [item for item in items if item is not None]
    axis = c.in_meta.axis
    if Ellipsis not in dims and axis is not None and axis < len(dims):
        if isinstance(dims[axis], int):
            raise _Unsupported("it indexes the batch dim; keep the batch and slice after it")
    moves_nothing = all(item is None or item is Ellipsis or item == slice(None) for item in items)
    if moves_nothing or c.out_shape == src.shape:
        return c.b.view(src, c.out_shape)
    return c.b.split(c.name, src, [c.out_shape], source=c.source)[0]


@_register(
    nn.Identity,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.AlphaDropout,
    nn.Flatten,
    nn.Unflatten,
    F.dropout,
    F.dropout1d,
    F.dropout2d,
    F.alpha_dropout,
    *_both("view", "reshape", "flatten", "squeeze", "unsqueeze", "unflatten", "contiguous"),
    *_both("view_as", "reshape_as", "clone", "detach", "to", "type", "type_as", "float", "half"),
    *_both("ravel", "atleast_2d", "atleast_3d", "squeeze_", "unsqueeze_"),
)
def _view(c: _Call) -> TensorRef:
    src = c.ref()
    if math.prod(c.out_shape) != math.prod(src.shape):
        raise _Unsupported(f"it changes the element count ({src.shape} -> {c.out_shape})")
    return c.b.view(src, c.out_shape)


@_register(*_both("permute", "transpose", "swapaxes", "swapdims", "movedim"))
def _transpose(c: _Call) -> TensorRef:
    src = c.ref()
    rank = len(c.in_meta.shape)
    name = str(c.node.target) if c.node.op == "call_method" else c.node.target.__name__
    if name == "permute":
        dims = c.args[1:] if len(c.args) > 2 else c.arg(1, "dims")
        perm = [int(d) % rank for d in dims]
    elif name == "movedim":
        moved = torch.arange(rank).movedim(c.arg(1, "source"), c.arg(2, "destination"))
        perm = [int(p) for p in moved]
    else:
        a, b = int(c.arg(1, "dim0")) % rank, int(c.arg(2, "dim1")) % rank
        perm = list(range(rank))
        perm[a], perm[b] = perm[b], perm[a]
    axis = c.in_meta.axis
    if axis is not None:
        perm = [p - (p > axis) for p in perm if p != axis]
    if tuple(src.shape[p] for p in perm) != c.out_shape:
        return c.b.transpose(c.name, src, out_shape=c.out_shape, source=c.source)
    return c.b.transpose(c.name, src, perm=perm, source=c.source)


@_register(
    nn.PixelShuffle,
    nn.PixelUnshuffle,
    nn.ChannelShuffle,
    *_both("pixel_shuffle", "pixel_unshuffle"),
)
@_register(F.pixel_shuffle, F.pixel_unshuffle, F.channel_shuffle, "channel_shuffle")
def _shuffle(c: _Call) -> TensorRef:
    return c.b.transpose(c.name, c.ref(), out_shape=c.out_shape, source=c.source)


_SHAPE_ONLY.update(
    {
        id(torch.zeros_like),
        id(torch.ones_like),
        id(torch.empty_like),
        id(torch.full_like),
        id(torch.rand_like),
        id(torch.randn_like),
        "new_zeros",
        "new_ones",
        "new_empty",
        "new_full",
        "new_tensor",
        "zero_",
    }
)

if hasattr(nn, "RMSNorm"):  # torch >= 2.4
    _register(nn.RMSNorm)(_norm_module)
    _register(F.rms_norm)(_norm_function)
