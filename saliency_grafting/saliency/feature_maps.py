"""Which module's output forward saliency reads, and how: chosen from the records of one real forward pass.

The rule (``_Probe._select``, on every module's output in the order the modules finish; parents finish after their
children, so the outermost of the modules that return the same tensor comes last):

1. An output is a *map* when its layout can be told (``_Probe._layout``): ``[B, C, h, w]`` (``nchw``),
   ``[B, h, w, C]`` (``nhwc``: Swin stages) or ``[B, tokens, C]`` (``tokens``: ViT/DeiT, the patch grid after
   leading prefix tokens). Not maps: outputs of a per-position norm (``LayerNorm``, ``RMSNorm``; every position gets
   the same scale, so ``sum_c |t_c|`` is nearly flat) and views of them; up-sampled maps (VGG's ``avgpool`` turns a
   1x1 map into a constant 7x7 one); earlier calls of a module called again (the kept hook sees its last call).
2. A *head* takes a map the network made (not the image) with more than one position and returns no map (a
   classifier, GoogLeNet's ``aux2``) or a 1x1 map through global pooling (a parameter-free module that takes a map
   to one position, with no larger map after it inside the head: SqueezeNet's ``classifier``). Maps inside a head
   are ignored. A stage sequence whose strided convs end at 1x1 (timm's ``blocks`` at 32 px) is not a head.
3. The *deepest* map is the last whose ``h`` and ``w`` both reach ``min_size``. Among the maps of its size the
   *blocks* (modules whose submodules hold parameters: ``layer2``, ``features.3``, ``stages.1``, ``blocks``, not a
   lone BN, ReLU, 1x1 conv or ``Identity``) closest to the root win, the last of them; with no block of that size
   the deepest map itself (VGG-11 at 32 px: ``features.14``, a ReLU of a flat ``Sequential``).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from saliency_grafting.saliency.layouts import FeatureLayer, reduce_features

__all__: list[str] = []  # the probe is private: ForwardSaliency and resolve_feature_layer use it

_MAX_UNKNOWN_PREFIX = 8  # prefix tokens accepted when the model does not say (torchvision ViT has 1)
_CHANNELS_FIRST = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.SyncBatchNorm)
_CHANNELS_LAST = (nn.Linear,)


def _first_tensor(value: object) -> Tensor | None:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], Tensor):
        return value[0]
    return None


def _is_position_norm(module: nn.Module) -> bool:
    rms = getattr(nn, "RMSNorm", ())
    return isinstance(module, (nn.LayerNorm, rms)) or "rmsnorm" in type(module).__name__.lower()


def _channel_evidence(module: nn.Module) -> str | None:
    """``nchw`` / ``nhwc`` when the module's type fixes where the channels of its output are."""
    if isinstance(module, _CHANNELS_FIRST) or (isinstance(module, nn.LayerNorm) and type(module).__name__[-2:] == "2d"):
        return "nchw"
    if isinstance(module, _CHANNELS_LAST) or _is_position_norm(module):
        return "nhwc"
    return None


def _is_pointwise(module: nn.Module) -> bool:
    """An activation, dropout or identity: its output has its input's layout (a permute would not)."""
    kind = type(module).__module__
    return isinstance(module, nn.Identity) or kind.startswith(
        ("torch.nn.modules.activation", "torch.nn.modules.dropout", "timm.layers.activations", "timm.layers.drop")
    )


def _is_block(module: nn.Module) -> bool:
    """A stage or block: its submodules hold parameters (a BN with an activation inside does not count)."""
    return any(True for child in module.children() for _ in child.parameters())


def _num_prefix_tokens(model: nn.Module) -> int | None:
    for module in model.modules():
        value = getattr(module, "num_prefix_tokens", None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


_Source = tuple[int, "str | None", "tuple[int, ...] | None"]  # a module input's map: (h*w, layout, shape)


@dataclass
class _Record:
    name: str
    module: nn.Module
    start: int
    end: int
    input_positions: int  # h*w of its input when that is a map made by the network (not the image), else 0
    input_layout: str | None  # that map's layout
    input_shape: tuple[int, ...] | None  # and shape
    shape: tuple[int, ...] | None = None
    layout: str | None = None
    size: tuple[int, int] | None = None
    prefix: int = 0
    ambiguous: bool = False  # a 4-D map whose layout nothing tells
    reach: int = 0  # for an ambiguous map: the larger min(h, w) of its two readings
    evidence: str | None = None
    norm: bool = False
    saliency: Tensor | None = field(default=None, repr=False)

    @property
    def positions(self) -> int:
        return self.size[0] * self.size[1] if self.size else 0

    def layer(self) -> FeatureLayer:
        assert self.layout is not None and self.size is not None
        return FeatureLayer(self.name, self.layout, self.size, self.prefix)  # type: ignore[arg-type]

    def describe(self) -> str:
        size = f"{self.size[0]}x{self.size[1]}" if self.size else "no"
        return f"{self.name!r} ({size} map, output {list(self.shape or ())})"


class _Probe:
    """Temporary hooks on every module of ``model`` that record one forward pass, then ``select`` the layer."""

    def __init__(
        self,
        model: nn.Module,
        *,
        min_size: int,
        layer: str | None,
        layout: str,
        done: Callable[[FeatureLayer, Tensor], None],
    ) -> None:
        self.model, self.min_size, self.wanted, self.forced, self.done = model, min_size, layer, layout, done
        self.prefix = _num_prefix_tokens(model)
        self.active = False
        disable = torch.compiler.disable
        self.handles = [
            model.register_forward_pre_hook(disable(self._begin), with_kwargs=True),
            model.register_forward_hook(disable(self._finish)),
        ]
        for name, module in model.named_modules():
            if name:
                self.handles.append(module.register_forward_pre_hook(disable(self._pre(module)), with_kwargs=True))
                self.handles.append(module.register_forward_hook(disable(self._post(name, module))))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []
        self._reset()

    def _reset(self) -> None:
        self.clock = 0
        self.stack: list[tuple[nn.Module, int, _Source]] = []  # (module, start, what its input is)
        self.records: list[_Record] = []
        self.maps: dict[int, tuple[weakref.ref, _Source]] = {}  # storage address -> the latest map there
        self.norms: dict[int, weakref.ref] = {}  # storage address -> an output of a per-position norm there
        self.grid: tuple[int, int] | None = None  # the latest 4-D map's (h, w): the patch grid of tokens

    # -- recording ------------------------------------------------------------------------------------------

    def _begin(self, model: nn.Module, args: tuple, kwargs: dict) -> None:
        self._reset()
        image = _first_tensor(args[0] if args else next(iter(kwargs.values()), None))
        self.batch = image.shape[0] if isinstance(image, Tensor) and image.ndim >= 1 else None
        self.image = tuple(image.shape[-2:]) if isinstance(image, Tensor) and image.ndim == 4 else None
        self.active = self.batch is not None

    def _pre(self, module: nn.Module) -> Callable[..., None]:
        def hook(mod: nn.Module, args: tuple, kwargs: dict) -> None:
            if self.active:
                self.clock += 1
                first = _first_tensor(args[0] if args else next(iter(kwargs.values()), None))
                self.stack.append((module, self.clock, self._input(first) if first is not None else (0, None, None)))

        return hook

    def _post(self, name: str, module: nn.Module) -> Callable[..., None]:
        def hook(mod: nn.Module, args: tuple, output: object) -> None:
            if not self.active or not self.stack:
                return
            self.clock += 1
            index = next((i for i in range(len(self.stack) - 1, -1, -1) if self.stack[i][0] is module), None)
            if index is None:
                return
            _, start, source = self.stack.pop(index)
            del self.stack[index:]
            self._record(_Record(name, module, start, self.clock, *source), _first_tensor(output))

        return hook

    @staticmethod
    def _alive(ref: weakref.ref | None, ptr: int) -> bool:
        """Whether a recorded output still lives at storage address ``ptr`` (an address may be reused once freed)."""
        t = ref() if ref is not None else None
        return ptr != 0 and t is not None and t.untyped_storage().data_ptr() == ptr

    def _input(self, tensor: Tensor) -> _Source:
        """(h*w, layout, shape) of the latest recorded map that ``tensor`` is or views; h*w = 0 for none (the image)."""
        ptr = tensor.untyped_storage().data_ptr()
        ref, source = self.maps.get(ptr, (None, (0, None, None)))
        return source if self._alive(ref, ptr) else (0, None, None)

    def _record(self, rec: _Record, out: Tensor | None) -> None:
        self.records.append(rec)
        if out is None or out.ndim < 3 or out.shape[0] != self.batch:
            return
        rec.shape = tuple(out.shape)
        ptr = out.untyped_storage().data_ptr()
        rec.norm = _is_position_norm(rec.module) or self._alive(self.norms.get(ptr), ptr)
        rec.evidence = _channel_evidence(rec.module) or self._inner_evidence(rec)
        if rec.evidence is None and _is_pointwise(rec.module) and rec.input_shape == rec.shape:
            rec.evidence = rec.input_layout  # an activation or dropout keeps its input's layout
        forced = self.forced if self.forced != "auto" and rec.name == self.wanted else None
        self._layout(rec, out, forced)
        if rec.norm:
            self.norms[ptr] = weakref.ref(out)
        if rec.size is None:
            return
        self.maps[ptr] = (weakref.ref(out), (rec.positions, rec.layout, rec.shape))
        if 0 < rec.input_positions < rec.positions and rec.name != self.wanted:  # up-sampled: VGG's 7x7 avgpool
            rec.size, rec.layout = None, None
            return
        if rec.layout != "tokens" and rec.positions > 1:
            self.grid = rec.size
        if rec.name == self.wanted or (not rec.norm and min(rec.size) >= self.min_size and self.wanted is None):
            rec.saliency = reduce_features(out, rec.layer())  # the map of this first pass, as the hook makes it

    def _inner_evidence(self, rec: _Record) -> str | None:
        for inner in reversed(self.records[:-1]):
            if inner.start < rec.start:
                return None
            if inner.shape == rec.shape and inner.evidence is not None:
                return inner.evidence
        return None

    def _fits(self, h: int, w: int) -> bool:
        if self.image is None:
            return True
        height, width = self.image
        return 1 <= h <= height and 1 <= w <= width and abs(h * width - w * height) <= max(height, width)

    def _layout(self, rec: _Record, out: Tensor, forced: str | None) -> None:
        """Tell the layout of a 4-D map by which pair of dimensions has the input's aspect ratio (the spatial
        dimensions shrink with the input, the channels do not); when both pairs have it (a square input with as many
        channels as rows), by the type of the module that made the map (a conv or BN: channels first; a Linear or
        LayerNorm: channels last; an activation: its input's), else it is ambiguous. A 3-D output is tokens when
        its length is the latest 4-D map's h*w (the patch embedding's grid) plus the model's ``num_prefix_tokens``
        (or 0; up to 8 when the model does not say)."""
        if out.ndim == 4:
            first, last = self._fits(out.shape[2], out.shape[3]), self._fits(out.shape[1], out.shape[2])
            if forced in ("nchw", "nhwc"):
                rec.layout = forced
            elif first and last:
                rec.layout, rec.ambiguous = rec.evidence, rec.evidence is None
                rec.reach = max(min(out.shape[2], out.shape[3]), min(out.shape[1], out.shape[2]))
            elif first or last:
                rec.layout = "nchw" if first else "nhwc"
            if rec.layout is not None:
                height, width = out.shape[2:4] if rec.layout == "nchw" else out.shape[1:3]
                rec.size = (int(height), int(width))
        elif out.ndim == 3 and (forced in (None, "tokens")):
            length = out.shape[1]
            if self.grid is not None:
                h, w = self.grid
                if self.prefix is not None:
                    prefix = self.prefix if length - self.prefix == h * w else 0 if length == h * w else None
                else:
                    prefix = length - h * w if 0 <= length - h * w <= _MAX_UNKNOWN_PREFIX else None
            else:
                prefix = self.prefix or 0
                side = math.isqrt(max(length - prefix, 0))
                h = w = side
                prefix = prefix if side > 1 and side * side == length - prefix else None
            if prefix is not None:
                rec.layout, rec.size, rec.prefix = "tokens", (h, w), prefix

    # -- choosing -------------------------------------------------------------------------------------------

    def _finish(self, model: nn.Module, args: tuple, output: object) -> None:
        if self.active:
            self.active = False
            try:
                chosen = self._select()
            finally:
                self._reset()  # drops the records and their maps
            assert chosen.saliency is not None
            self.done(chosen.layer(), chosen.saliency)

    def _select(self) -> _Record:
        records = self.records
        if self.wanted is not None:
            return self._check_wanted(records)
        last_call = {id(r.module): r.end for r in records}
        heads = self._heads()
        pool = [
            r
            for r in records
            if r.end == last_call[id(r.module)]
            and not r.norm
            and not any(start < r.start and r.end < end for start, end in heads)
            and (r.size is not None or r.ambiguous)
        ]
        big = [r for r in pool if (r.reach if r.ambiguous else min(r.size)) >= self.min_size]  # type: ignore[arg-type]
        if not big:
            raise ValueError(self._too_small(pool))
        deepest = big[-1]
        if deepest.ambiguous:
            raise ValueError(_ambiguous(deepest))
        blocks = [r for r in big if r.size == deepest.size and _is_block(r.module)]
        if not blocks:
            return deepest
        depth = min(r.name.count(".") for r in blocks)
        return [r for r in blocks if r.name.count(".") == depth][-1]

    def _heads(self) -> list[tuple[int, int]]:
        """The (start, end) windows of heads: modules fed a network-made map of several positions that return no
        map (a classifier, an auxiliary classifier) or end in global pooling (a parameter-free module taking the
        map to one position, with no larger map after it inside the head: SqueezeNet's ``classifier``)."""
        heads = []
        for index, head in enumerate(self.records):
            if head.input_positions <= 1 or head.positions > 1:
                continue
            inner: list[Any] = []  # the head and what ran inside it: the records just before it that started after it
            for r in reversed(self.records[: index + 1]):
                if r.end < head.start:
                    break
                inner.insert(0, r)
            pools = [
                r.end
                for r in inner
                if r.input_positions > 1 and r.positions <= 1 and not any(True for _ in r.module.parameters())
            ]
            if (
                head.shape is None
                or len(head.shape) < 3
                or (pools and not any(r.end > pools[-1] and r.positions > 1 for r in inner))
            ):
                heads.append((head.start, head.end))
        return heads

    def _check_wanted(self, records: list[_Record]) -> _Record:
        calls = [r for r in records if r.name == self.wanted]
        if not calls:
            raise ValueError(f"layer {self.wanted!r} did not run in the model's forward pass: pass another layer=")
        rec = calls[-1]
        if rec.ambiguous:
            raise ValueError(_ambiguous(rec))
        if rec.size is None:
            raise ValueError(
                f"forward saliency needs a [B, C, h, w], [B, h, w, C] or [B, tokens, C] feature map from layer "
                f"{rec.name!r}, got {list(rec.shape) if rec.shape else 'a non-map output'}"
            )
        if min(rec.size) < self.min_size:
            raise ValueError(
                f"layer {rec.describe()} is smaller than min_size={self.min_size} for a "
                f"{self._image()} input: Saliency Grafting cannot cut regions from it. Pass layer= "
                f"(--saliency-layer) naming an earlier layer with a larger map, use larger images, or lower min_size"
            )
        return rec

    def _image(self) -> str:
        return f"{self.image[0]}x{self.image[1]}" if self.image else "this"

    def _too_small(self, pool: list[_Record]) -> str:
        maps = [r for r in pool if r.size is not None]
        if not maps:
            return (
                f"forward saliency found no feature map ([B, C, h, w], [B, h, w, C] or [B, tokens, C]) in "
                f"{type(self.model).__name__}'s forward pass: pass layer= naming a module with such an output"
            )
        layers = [r for r in maps if any(True for _ in r.module.parameters())]  # not a pooling or an activation
        deepest = (layers or maps)[-1]
        largest = max(reversed(maps), key=lambda r: min(r.size))  # type: ignore[arg-type]
        return (
            f"forward saliency: no feature map before global pooling reaches min_size={self.min_size} for a "
            f"{self._image()} input; the deepest is layer {deepest.describe()}"
            + (f", the largest {largest.describe()}. " if largest is not deepest else ". ")
            + "A 1x1 or tiny map gives Saliency Grafting nothing to graft (an empty mask). Pass layer= "
            "(--saliency-layer) naming a layer with a larger map, use larger images, or lower min_size"
        )


def _ambiguous(rec: _Record) -> str:
    return (
        f"cannot tell whether layer {rec.name!r}'s output {list(rec.shape or ())} is [B, C, h, w] or [B, h, w, C] "
        "(both fit the input's shape and no conv, norm or linear layer says which): pass layer= with "
        "layout='nchw' or layout='nhwc'"
    )
