"""The decoder: an RNN | GRU | LSTM over target embeddings, with an attention slot.

Each position t computes
    s_t   = RNN([emb(y_{t-1}); extra_t], s_{t-1})
    c_t   = context: attention over the source, or the fixed context vector (`none`)
    o_t   = dropout(tanh(W_c [s_t; c_t]))        the attentional vector (Luong et al. 2015)
    p_t   = softmax(W_o o_t + b_o)
where `extra_t` is c_t itself for `bahdanau` (queried with s_{t-1}, before the RNN), the fixed
context for `none` (Cho et al. 2014: the context enters every step and the output layer), o_{t-1}
for `luong` with input feeding, and nothing for `luong` without it.

Two ways to run a whole target under teacher forcing, same function (tests pin it):
- fused: when no step depends on the previous step's attention output (`none`, `luong` without
  input feeding) and every input is the reference: one `nn.RNNBase` call over all positions, then
  attention over all positions in one batched product.
- step: a Python loop over positions (input feeding, `bahdanau`, scheduled sampling); the same
  `_advance` that search calls through `step`.
The output layer (the widest matrix) runs once, over real target tokens only, in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from nmt.config import DecoderConfig
from nmt.model import recurrent
from nmt.model.attention import build_attention
from nmt.model.bridge import BridgeOutput
from nmt.model.dropout import Dropout
from nmt.model.state import DecoderState, EncoderOutput, StepOutput
from nmt.vocab import PAD_ID


@dataclass
class DecoderOutput:
    logits: Optional[Tensor]  # (tokens, vocab) for the real target positions, in (batch, tgt_len) row-major order
    mask: Tensor  # (batch, tgt_len) bool, True on real positions: `tgt_out[mask]` are the labels
    attention: Optional[Tensor] = None  # (batch, tgt_len, src_len) when asked for and attention is on
    features: Optional[Tensor] = None  # (tokens, output_size) what the output layer reads: `logits = output(features)`


class Decoder(nn.Module):
    joint_product = recurrent.JointProduct  # layer 0's product in search; int8 in `nmt.decoding.quantization`

    def __init__(self, cfg: DecoderConfig, vocab_size: int, memory_size: int, embedding: Optional[nn.Embedding] = None):
        super().__init__()
        self.kind = cfg.attention
        self.input_feeding = cfg.attention == "luong" and cfg.input_feeding
        # a tied output layer reads the attentional vector through the embedding matrix
        self.output_size = cfg.emb_size if cfg.tie_embeddings else cfg.hidden_size
        self.embedding = embedding or nn.Embedding(vocab_size, cfg.emb_size, padding_idx=PAD_ID)
        self.dropout = Dropout(cfg.dropout)
        self.attention = None
        self.attention_name = {"luong": f"luong {cfg.score}"}.get(cfg.attention, cfg.attention)
        if cfg.attention != "none":
            name = "bahdanau" if cfg.attention == "bahdanau" else cfg.score
            self.attention = build_attention(name, cfg.hidden_size, memory_size)
        extra = self.output_size if self.input_feeding else 0 if cfg.attention == "luong" else memory_size
        self.rnn = recurrent.CELLS[cfg.cell](
            cfg.emb_size + extra,
            cfg.hidden_size,
            num_layers=cfg.layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        )
        self.combine = nn.Linear(cfg.hidden_size + memory_size, self.output_size, bias=False)  # W_c
        self.output = nn.Linear(self.output_size, vocab_size)  # W_o
        if cfg.tie_embeddings:
            self.output.weight = self.embedding.weight
        self._decoding: Optional[tuple] = None  # (parameter versions, recurrent.DecodingWeights) for search

    def can_fuse(self, teacher_forcing: float = 1.0) -> bool:
        """Whether a whole target can run in one RNN call: no step feeds on the previous one's output."""
        needs_steps = self.input_feeding or self.kind == "bahdanau"
        return teacher_forcing >= 1.0 and not needs_steps

    def start(self, encoder_out: EncoderOutput, init: BridgeOutput) -> DecoderState:
        memory = encoder_out.states
        feed = None
        if self.input_feeding:
            feed = init.hidden.new_zeros(init.hidden.size(1), self.output_size)  # (batch, output_size)
        return DecoderState(
            hidden=init.hidden,
            cell=init.cell,
            memory=memory,
            mask=encoder_out.mask,
            keys=self.attention.prepare(memory) if self.attention is not None else None,
            feed=feed,
            context=init.context if self.attention is None else None,
        )

    def step(self, state: DecoderState, prev_tokens: Tensor) -> StepOutput:
        """One position for every row: prev_tokens (batch,) -> log-probs (batch, vocab)."""
        out, state, weights = self.step_features(state, prev_tokens)
        log_probs = torch.log_softmax(self.output(out).float(), dim=-1)
        return StepOutput(log_probs=log_probs, state=state, attention=None if weights is None else weights.squeeze(1))

    def step_features(self, state: DecoderState, prev_tokens: Tensor) -> tuple[Tensor, DecoderState, Optional[Tensor]]:
        """`step` up to the output layer: the attentional vector (batch, output_size), the next
        state and attention weights (batch, 1, src_len) or None.

        In search (eval mode without autograd) the RNN's weights come arranged once
        (`recurrent.decoding_weights`, rebuilt only when a parameter changes): the embedding gates
        are looked up per token, layer 0's products run as one. Same function, fewer operations.
        """
        if self.training or torch.is_grad_enabled():
            embedded = self.dropout(self.embedding(prev_tokens))  # (batch, emb)
            rnn_weights = recurrent.StepWeights.of(self.rnn, embedded.size(-1))
            return self._advance(state, recurrent.input_gates(self.rnn, embedded), rnn_weights)
        arranged = self.decoding_weights()
        if arranged.table is not None:
            gates = arranged.table.index_select(0, prev_tokens)  # (batch, G)
        else:
            gates = recurrent.input_gates(self.rnn, self.embedding(prev_tokens))
        return self._advance(state, gates, arranged.step)

    def train(self, mode: bool = True) -> "Decoder":
        """Switching between training and evaluation drops the search cache: fused optimizers
        (torch's fused Adam) update parameters in place without bumping their version counters,
        so the version key alone would keep serving the weights of an earlier step. Setting the
        mode the module is already in keeps it (the Translator calls `eval()` per batch)."""
        if mode != self.training:
            self._decoding = None
        return super().train(mode)

    def decoding_weights(self) -> recurrent.DecodingWeights:
        """The RNN's weights arranged for search; cached until a parameter is replaced or changed
        in place (`load_state_dict`, `.to()`, an in-place edit) or the module changes mode (`train`)."""
        params = (self.embedding.weight, *self.rnn.parameters())
        key = tuple((p.data_ptr(), p._version) for p in params)
        if self._decoding is None or self._decoding[0] != key:
            with torch.no_grad():
                self._decoding = (key, recurrent.decoding_weights(self.rnn, self.embedding, self.joint_product))
        return self._decoding[1]

    def forward(
        self,
        state: DecoderState,
        tgt_in: Tensor,
        teacher_forcing: float = 1.0,
        fused: Optional[bool] = None,
        return_attention: bool = False,
        project: bool = True,
    ) -> DecoderOutput:
        """Logits for every real position of tgt_in (batch, tgt_len): BOS y1 .. yn, PAD-padded.

        teacher_forcing < 1 is scheduled sampling (Bengio et al. 2015): each input after BOS is,
        with probability 1 - teacher_forcing, the model's own greedy prediction instead of the
        reference. `fused`: None picks the fused path where it applies; False forces the step path.
        `project=False` stops before the output layer (`logits` None): training's loss runs the
        output layer itself, in chunks (`nmt.model.loss.projected_loss`).
        """
        mask = tgt_in.ne(PAD_ID)  # (batch, tgt_len)
        if fused is None:
            fused = self.can_fuse(teacher_forcing)
        elif fused and not self.can_fuse(teacher_forcing):
            raise ValueError("the fused path needs full teacher forcing and no input feeding or bahdanau")
        if fused:
            top, context, weights = self._fused(state, tgt_in)
            joined = torch.cat([top[mask], context[mask]], dim=-1)  # (tokens, hidden + memory)
            out = self.dropout(torch.tanh(self.combine(joined)))  # (tokens, output_size)
        else:
            outputs, weights = self._unroll(state, tgt_in, teacher_forcing, return_attention)
            out = outputs[mask]  # (tokens, output_size)
        logits = self.output(out) if project else None  # (tokens, vocab): the widest product, real tokens only
        return DecoderOutput(logits=logits, mask=mask, attention=weights if return_attention else None, features=out)

    def _advance(
        self, state: DecoderState, gates: Tensor, rnn_weights: recurrent.StepWeights
    ) -> tuple[Tensor, DecoderState, Optional[Tensor]]:
        """One position: layer 0's embedding gates (batch, G) -> attentional vector (batch, output_size),
        the next state, and attention weights (batch, 1, src_len) or None."""
        weights = None
        if self.kind == "bahdanau":
            context, weights = self._attend(state.hidden[-1], state)  # queried with the previous top state
            extra = context
        elif self.kind == "none":
            context = extra = state.per_row(state.context)  # (rows, memory_size)
        else:
            extra = state.feed  # None without input feeding
        hidden, cell = recurrent.step(rnn_weights, gates, extra, state.hidden, state.cell)
        top = hidden[-1]  # (rows, hidden)
        if self.kind == "luong":
            context, weights = self._attend(top, state)
        out = self.combine(torch.cat([top, context], dim=-1))  # (rows, output_size)
        out = self.dropout(recurrent.tanh(out))
        next_state = DecoderState(
            hidden=hidden,
            cell=cell,
            memory=state.memory,
            mask=state.mask,
            keys=state.keys,
            feed=out if self.input_feeding else None,
            context=state.context,
            beams=state.beams,
        )
        return out, next_state, weights

    def _attend(self, query: Tensor, state: DecoderState) -> tuple[Tensor, Tensor]:
        """query (rows, query_size) -> context (rows, memory_size) and weights (rows, 1, src_len).

        The `beams` rows of a sentence are its queries against its one copy of the source.
        """
        rows = query.size(0)
        grouped = query.view(rows // state.beams, state.beams, -1)  # (sentences, beams, query_size)
        attended = self.attention(grouped, state.keys, state.memory, state.mask)
        context = attended.context.reshape(rows, -1)  # (rows, memory_size)
        return context, attended.weights.reshape(rows, 1, -1)

    def _unroll(
        self, state: DecoderState, tgt_in: Tensor, teacher_forcing: float, keep_attention: bool
    ) -> tuple[Tensor, Optional[Tensor]]:
        """The step path over a whole target: (batch, tgt_len, output_size) and attention weights."""
        embedded = self.dropout(self.embedding(tgt_in.t()))  # (tgt_len, batch, emb)
        gates = recurrent.input_gates(self.rnn, embedded)  # (tgt_len, batch, G): one product for all steps
        rnn_weights = recurrent.StepWeights.of(self.rnn, embedded.size(-1))
        sampled = self._sampling_plan(tgt_in, teacher_forcing)  # (tgt_len, batch) or None
        outputs, weights = [], []
        # unbind, not gates[t]: its backward stacks once instead of filling a zero tensor per step
        for t, step_gates in enumerate(gates.unbind(0)):
            if sampled is not None and t > 0:
                step_gates = self._resample(step_gates, sampled[t], outputs[-1])
            out, state, step_weights = self._advance(state, step_gates, rnn_weights)
            outputs.append(out)
            if keep_attention and step_weights is not None:
                weights.append(step_weights)
        return torch.stack(outputs, dim=1), (torch.cat(weights, dim=1) if weights else None)

    def _sampling_plan(self, tgt_in: Tensor, teacher_forcing: float) -> Optional[Tensor]:
        """(tgt_len, batch) bool: True where the input is the model's own prediction."""
        if teacher_forcing >= 1.0:
            return None
        return torch.rand(tgt_in.t().shape, device=tgt_in.device) >= teacher_forcing

    def _resample(self, gates: Tensor, use_model: Tensor, previous: Tensor) -> Tensor:
        """Replace the rows `use_model` of gates (batch, G) by the gates of the model's greedy
        prediction from `previous` (batch, output_size). No gradient flows through the choice."""
        rows = use_model.nonzero().squeeze(1)
        if rows.numel() == 0:
            return gates
        with torch.no_grad():
            predicted = self.output(previous.index_select(0, rows)).argmax(-1)  # (rows,)
        embedded = self.dropout(self.embedding(predicted))  # (rows, emb)
        return gates.index_copy(0, rows, recurrent.input_gates(self.rnn, embedded))

    def _fused(self, state: DecoderState, tgt_in: Tensor) -> tuple[Tensor, Tensor, Optional[Tensor]]:
        """The whole target in one RNN call: top states (batch, tgt_len, hidden), contexts
        (batch, tgt_len, memory_size) and attention weights (batch, tgt_len, src_len) or None."""
        embedded = self.dropout(self.embedding(tgt_in))  # (batch, tgt_len, emb)
        if self.attention is None:
            context = state.context.unsqueeze(1).expand(-1, tgt_in.size(1), -1)  # (batch, tgt_len, memory)
            embedded = torch.cat([embedded, context], dim=-1)
        hx = (state.hidden, state.cell) if state.cell is not None else state.hidden
        top, _ = self.rnn(embedded, hx)  # (batch, tgt_len, hidden)
        if self.attention is None:
            return top, context, None
        attended = self.attention(top, state.keys, state.memory, state.mask)
        return top, attended.context, attended.weights
