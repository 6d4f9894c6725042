"""Ensemble decoding: several models searched as one `StepModel`.

Each member encodes the source and steps its own decoder; at every output position their
next-token distributions are combined, so greedy, beam, n-best and sampling run unchanged on the
ensemble. Members must share the target vocabulary (the same id means the same piece); they may
differ in architecture, seed or checkpoint. Two ways to combine (`TranslatorConfig.combine`):

    probability       log(mean_m p_m(y)): a mixture of the members' distributions (the default,
                      as in OpenNMT-py and fairseq); one confident member cannot veto a piece
    log_probability   mean_m log p_m(y): a product of experts, unnormalised; every member must
                      find a piece plausible
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import torch
from torch import Tensor

from nmt.model.state import EncoderOutput, StepModel, StepOutput

Combine = Literal["probability", "log_probability"]


@dataclass
class EnsembleState:
    members: list  # one DecoderState per member; search treats the state as opaque


class EnsembleModel:
    """`StepModel` over `models`: their log-probabilities combined at each step; the attention
    reported is the members' mean (None if any member has none)."""

    def __init__(self, models: Sequence[StepModel], combine: Combine = "probability"):
        if not models:
            raise ValueError("an ensemble needs at least one model")
        self.models = list(models)
        self.combine = combine

    def encode(self, src: Tensor, src_lengths: Tensor) -> list[EncoderOutput]:
        return [model.encode(src, src_lengths) for model in self.models]

    def start(self, encoder_out: list[EncoderOutput]) -> EnsembleState:
        return EnsembleState([model.start(out) for model, out in zip(self.models, encoder_out)])

    def reorder(self, state: EnsembleState, index: Tensor, beams: int = 1) -> EnsembleState:
        return EnsembleState([model.reorder(s, index, beams) for model, s in zip(self.models, state.members)])

    def step(self, state: EnsembleState, prev_tokens: Tensor) -> StepOutput:
        outs = [model.step(s, prev_tokens) for model, s in zip(self.models, state.members)]
        log_probs = combine_log_probs([out.log_probs for out in outs], self.combine)  # (rows, vocab)
        weights = [out.attention for out in outs]
        attention = None if any(w is None for w in weights) else torch.stack([w.float() for w in weights]).mean(0)
        return StepOutput(log_probs=log_probs, state=EnsembleState([out.state for out in outs]), attention=attention)


def combine_log_probs(members: Sequence[Tensor], combine: Combine = "probability") -> Tensor:
    """(rows, vocab) from each member's (rows, vocab) log-probabilities; one member is returned as is."""
    if len(members) == 1:
        return members[0].float()
    stacked = torch.stack([lp.float() for lp in members])  # (members, rows, vocab)
    if combine == "log_probability":
        return stacked.mean(dim=0)
    return torch.logsumexp(stacked, dim=0) - math.log(len(members))
