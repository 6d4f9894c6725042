"""The recurrent encoder-decoder: plain `nn.Module`s, nothing of training.

`build_model(model_cfg, src_vocab_size, tgt_vocab_size)` returns a `Seq2Seq`; `sequence_loss`
turns its logits into the training loss.
"""

from nmt.model.loss import LossOutput, sequence_loss
from nmt.model.seq2seq import Seq2Seq, build_model

__all__ = ["LossOutput", "Seq2Seq", "build_model", "sequence_loss"]
