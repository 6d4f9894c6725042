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

    def __init__(self, weight: Tensor, bias: Optional[Tensor]):
        super().__init__()
        if not int8_available():
            raise NMTError("int8 needs torch's x86 quantized CPU operators (fbgemm), missing from this torch build")
        self.out_features, self.in_features = weight.shape
        self.packed = _pack(weight, bias)
        self._dequantized: Optional[tuple[Tensor, Optional[Tensor]]] = None  # for `rows`, made on first use

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "Int8Linear":
        return cls(linear.weight, linear.bias)

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        y = torch.ops.quantized.linear_dynamic(x.reshape(-1, shape[-1]).float().contiguous(), self.packed, True)
        return y.view(*shape[:-1], self.out_features)

    def rows(self, ids: Tensor) -> "Int8Linear":
        """The layer restricted to output rows `ids` (a vocabulary shortlist). Re-quantizing the
        dequantized rows gives back the same int8 values: each row keeps its own scale."""
        if self._dequantized is None:
            weight, bias = torch.ops.quantized.linear_unpack(self.packed)
            self._dequantized = (weight.dequantize(), bias)
        weight, bias = self._dequantized
        return Int8Linear(weight.index_select(0, ids), None if bias is None else bias.index_select(0, ids))


class Int8JointProduct:
    """`recurrent.JointProduct` in int8: gates + inputs @ weight."""

    def __init__(self, weight: Tensor):
        self.linear = Int8Linear(weight.t(), None)  # weight (X + H, G): the linear's is (G, X + H)

    def __call__(self, gates: Tensor, inputs: Tensor) -> Tensor:
        return gates + self.linear(inputs)


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

