"""int8 dynamic quantization of the decoder's matrix products: an inference option (`--int8`).

Each weight matrix is quantized once, per output row (symmetric int8, one scale per row); each
product quantizes its input rows on the fly (uint8 with 7 significant bits, one scale per call)
and multiplies in integers with 32-bit sums (the fbgemm kernels of torch's x86 quantized engine).
Quantized: the output layer, the attentional combination `W_c` and the decoder RNN's layer-0
product (search's `JointProduct`). The encoder runs once per sentence and stays fp32.

Why these ops and not torchao: torchao 0.18's `Int8DynamicActivationInt8WeightConfig` runs on
CPU through `torch._int_mm`, which on this AVX2 CPU with torch 2.13 measured about 20x slower
than the fp32 product (and torchao ships no CPU kernels in its wheel), while
`torch.ops.quantized.linear_dynamic` measured 2-4x faster than fp32 (512 x 3963 and
1024 x 2048 products at 64 and 320 rows, one thread). Its Python front end
(`torch.ao.quantization`) is deprecated, so this module calls the operators directly and says
so in one clear error if a torch build lacks them.
"""

from __future__ import annotations

import warnings
from typing import Optional

import torch
from torch import Tensor, nn

from nmt.errors import NMTError


def int8_available() -> bool:
    """Whether this torch build has the x86 (fbgemm) dynamic int8 linear operators."""
    engines = getattr(torch.backends.quantized, "supported_engines", [])
    return hasattr(torch.ops.quantized, "linear_dynamic") and any(e in engines for e in ("fbgemm", "x86"))


def _pack(weight: Tensor, bias: Optional[Tensor]):
    """weight (out, in) fp32 -> fbgemm's packed int8 matrix, one scale per output row."""
    weight = weight.detach().float().contiguous()
    scales = (weight.abs().amax(dim=1) / 127.0).clamp_min(1e-12).double()  # (out,)
    zeros = torch.zeros(weight.size(0), dtype=torch.long)
    with warnings.catch_warnings():  # quantized tensor creation is deprecated, the kernels are not
        warnings.simplefilter("ignore")
        quantized = torch.quantize_per_channel(weight, scales, zeros, 0, torch.qint8)
    return torch.ops.quantized.linear_prepack(quantized, None if bias is None else bias.detach().float())


class Int8Linear(nn.Module):
    """`nn.Linear` for inference with an int8 weight: y = x W^T + b, dynamically quantized."""

    def __init__(self, packed, out_features: int, in_features: int):
        """packed: fbgemm's packed int8 weight (and bias); use `quantize` or `from_linear`."""
        super().__init__()
        self.packed = packed
        self.out_features, self.in_features = out_features, in_features
        self._unpacked: Optional[tuple[Tensor, ...]] = None  # for `rows`: int8 rows, scales, zero points, bias

    @classmethod
    def quantize(cls, weight: Tensor, bias: Optional[Tensor]) -> "Int8Linear":
        """weight (out, in) fp32, quantized per output row."""
        if not int8_available():
            raise NMTError("int8 needs torch's x86 quantized CPU operators (fbgemm), missing from this torch build")
        return cls(_pack(weight, bias), *weight.shape)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "Int8Linear":
        return cls.quantize(linear.weight, linear.bias)

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        y = torch.ops.quantized.linear_dynamic(x.reshape(-1, shape[-1]).float().contiguous(), self.packed, True)
        return y.view(*shape[:-1], self.out_features)

    def rows(self, ids: Tensor) -> "Int8Linear":
        """The layer restricted to output rows `ids` (a vocabulary shortlist), per batch: the
        stored int8 rows and their scales are selected and packed again, not re-quantized (half
        the cost of quantizing the dequantized rows, same values)."""
        if self._unpacked is None:
            weight, bias = torch.ops.quantized.linear_unpack(self.packed)
            self._unpacked = (weight.int_repr(), weight.q_per_channel_scales(), weight.q_per_channel_zero_points(), bias)
        ints, scales, zero_points, bias = self._unpacked
        ids = ids.to(ints.device)
        quantized = torch._make_per_channel_quantized_tensor(
            ints.index_select(0, ids), scales.index_select(0, ids), zero_points.index_select(0, ids), 0)
        packed = torch.ops.quantized.linear_prepack(quantized, None if bias is None else bias.index_select(0, ids))
        return Int8Linear(packed, *quantized.shape)


class Int8JointProduct:
    """`recurrent.JointProduct` in int8: gates + inputs @ weight."""

    def __init__(self, weight: Tensor):
        self.linear = Int8Linear.quantize(weight.t(), None)  # weight (X + H, G): the linear's is (G, X + H)

    def __call__(self, gates: Tensor, inputs: Tensor) -> Tensor:
        return self.linear(inputs).add_(gates)  # in place on the fresh product: one (rows, G) buffer fewer


def quantize_decoder(model: nn.Module) -> nn.Module:
    """Quantize `model`'s decoder for inference, in place, and return the model.

    The model can still decode (greedy, beam, shortlists) but no longer train.
    """
    decoder = model.decoder
    if isinstance(decoder.output, Int8Linear):
        return model
    decoder.combine = Int8Linear.from_linear(decoder.combine)
    decoder.output = Int8Linear.from_linear(decoder.output)
    decoder.joint_product = Int8JointProduct
    decoder._decoding = None
    return model


def is_quantized(model: nn.Module) -> bool:
    return isinstance(model.decoder.output, Int8Linear)

