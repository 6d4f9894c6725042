"""The encoder-decoder: encoder -> bridge -> decoder (attention in its slot), and `build_model`.

`Seq2Seq` is a plain `nn.Module` that knows nothing of training. Search uses its step interface
(`encode`, `start`, `step`, `reorder`: the `StepModel` protocol of `nmt.model.state`); training
calls `forward`, which returns logits for the real target tokens only.
"""

from __future__ import annotations

from torch import Tensor, nn

from nmt.config import ModelConfig
from nmt.errors import ConfigError
from nmt.model.bridge import Bridge
from nmt.model.decoder import Decoder, DecoderOutput
from nmt.model.encoder import Encoder
from nmt.model.initialization import initialize
from nmt.model.state import DecoderState, EncoderOutput, StepOutput


class Seq2Seq(nn.Module):
    def __init__(self, encoder: Encoder, bridge: Bridge, decoder: Decoder):
        super().__init__()
        self.encoder = encoder
        self.bridge = bridge
        self.decoder = decoder

    @property
    def src_vocab_size(self) -> int:
        return self.encoder.embedding.num_embeddings

    @property
    def tgt_vocab_size(self) -> int:
        return self.decoder.output.out_features

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """src: (batch, src_len) ids, PAD-padded; src_lengths: (batch,)."""
        return self.encoder(src, src_lengths)

    def start(self, encoder_out: EncoderOutput) -> DecoderState:
        return self.decoder.start(encoder_out, self.bridge(encoder_out.final))

    def step(self, state: DecoderState, prev_tokens: Tensor) -> StepOutput:
        """prev_tokens: (batch,) -> log-probs (batch, vocab), next state, attention (batch, src_len)."""
        return self.decoder.step(state, prev_tokens)

    def reorder(self, state: DecoderState, index: Tensor, beams: int = 1) -> DecoderState:
        """Rows `index` of the state: beams follow their parents, finished sentences leave; the
        `beams` rows of a sentence share one copy of its source side."""
        return state.index_select(index, beams)

    def forward(
        self,
        src: Tensor,
        src_lengths: Tensor,
        tgt_in: Tensor,
        teacher_forcing: float = 1.0,
        fused: bool | None = None,
        return_attention: bool = False,
        project: bool = True,
    ) -> DecoderOutput:
        """Training and scoring: logits (tokens, vocab) for the real positions of tgt_in.

        tgt_in: (batch, tgt_len) BOS y1 .. yn, PAD-padded. The labels are `tgt_out[output.mask]`.
        `project=False`: no logits, only the features the output layer reads (`projected_loss`).
        """
        state = self.start(self.encode(src, src_lengths))
        return self.decoder(state, tgt_in, teacher_forcing, fused=fused, return_attention=return_attention,
                            project=project)


def build_model(cfg: ModelConfig, src_vocab_size: int, tgt_vocab_size: int) -> Seq2Seq:
    """A freshly initialised model; config combinations that cannot work are `ConfigError`s."""
    enc, dec = cfg.encoder, cfg.decoder
    memory_size = enc.hidden_size * (2 if enc.bidirectional else 1)
    if dec.attention == "luong" and dec.score == "dot" and dec.hidden_size != memory_size:
        raise ConfigError(
            f"model.decoder.score: dot needs decoder.hidden_size ({dec.hidden_size}) equal to the encoder "
            f"output size ({memory_size} = encoder.hidden_size x directions); use score: general"
        )
    shared = None
    encoder = Encoder(enc, src_vocab_size)
    if cfg.tie_src_tgt_embeddings:
        if src_vocab_size != tgt_vocab_size:
            raise ConfigError(
                f"model.tie_src_tgt_embeddings: source and target vocabularies differ "
                f"({src_vocab_size} vs {tgt_vocab_size}); it needs one joint tokenizer"
            )
        if enc.emb_size != dec.emb_size:
            raise ConfigError("model.tie_src_tgt_embeddings: needs equal encoder and decoder emb_size")
        shared = encoder.embedding
    decoder = Decoder(dec, tgt_vocab_size, memory_size, embedding=shared)
    model = Seq2Seq(encoder, Bridge(cfg.bridge, enc, dec), decoder)
    initialize(model, cfg.init, cfg.init_range)
    return model
