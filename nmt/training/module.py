"""The LightningModule: a thin training shell around the plain `Seq2Seq`.

It owns what belongs to training only: the loss with label smoothing, the teacher-forcing
schedule, optimizers and schedules, and validation (loss, perplexity, and BLEU/chrF from
decoding the validation set through the same `Translator` that `nmt translate` uses).
Hyperparameters are the resolved config as a plain dict, so checkpoints load with
`weights_only=True`.
"""

from __future__ import annotations

import math
import time
from typing import Optional

import lightning as L
import torch

from nmt.config import Config
from nmt.data.batch import Batch
from nmt.metrics import score
from nmt.model.loss import projected_loss
from nmt.model.seq2seq import build_model
from nmt.training.optim import build_optimizer, build_scheduler
from nmt.decoding.translator import Translator


def teacher_forcing_ratio(cfg, step: int) -> float:
    """Probability of feeding the reference token at optimizer step `step` (scheduled sampling)."""
    start, k = cfg.teacher_forcing, cfg.teacher_forcing_k
    if cfg.teacher_forcing_schedule == "linear":
        return start * max(0.0, 1.0 - step / k)  # reaches 0 after k steps
    if cfg.teacher_forcing_schedule == "inverse_sigmoid":
        return start * k / (k + math.exp(min(step / k, 700.0)))  # Bengio et al. 2015
    return start


class TranslationModule(L.LightningModule):
    """Without vocabulary sizes the model is built in `configure_model`, from the trainer's
    datamodule: inside `fit`, after the data is prepared (under DDP by global rank zero while the
    other processes wait) and set up on every rank (`nmt.training.run.train` does this)."""

    def __init__(self, config: dict, src_vocab_size: Optional[int] = None, tgt_vocab_size: Optional[int] = None):
        super().__init__()
        self.save_hyperparameters()
        self.config = Config.model_validate(config)
        self.model = None
        if src_vocab_size is not None and tgt_vocab_size is not None:
            self.model = build_model(self.config.model, src_vocab_size, tgt_vocab_size)
        self.tokenizer = None  # set by the trainer set-up; validation BLEU needs it
        self.samples = 3  # validation translations printed after each validation
        self._val_sums: Optional[torch.Tensor] = None
        self._started = time.monotonic()

    def configure_model(self) -> None:
        """Lightning calls this after `datamodule.setup`, before restoring a checkpoint."""
        if self.model is not None:
            return
        datamodule = self.trainer.datamodule
        src_vocab, tgt_vocab = datamodule.src_vocab_size, datamodule.tgt_vocab_size
        # checkpoints carry the sizes (averaging and loading rebuild the model from them)
        self.save_hyperparameters({**self.hparams, "src_vocab_size": src_vocab, "tgt_vocab_size": tgt_vocab})
        with torch.device("cpu"):  # initialised on the CPU as always (Lightning moves it), same numbers on any device
            self.model = build_model(self.config.model, src_vocab, tgt_vocab)
        if self.tokenizer is None:
            self.tokenizer = datamodule.tokenizer

    # ----------------------------------------------------------------------------- training

    def forward_loss(self, batch: Batch, teacher_forcing: float = 1.0, label_smoothing: float = 0.0):
        """The output layer runs inside the loss, chunk by chunk (`projected_loss`): the
        (tokens, vocab) logits never exist whole."""
        out = self.model(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing=teacher_forcing, project=False)
        return projected_loss(out.features, self.model.decoder.output, batch.tgt_out[out.mask], label_smoothing)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        train = self.config.train
        ratio = teacher_forcing_ratio(train, self.global_step)
        loss = self.forward_loss(batch, ratio, train.label_smoothing)
        size = batch.size
        self.log("train/loss", loss.loss, prog_bar=True, batch_size=size)
        self.log("train/ppl", loss.perplexity, batch_size=size)
        self.log("train/tokens", float(loss.tokens), reduce_fx="sum", batch_size=size)
        self.log("train/wall_minutes", (time.monotonic() - self._started) / 60.0, batch_size=size)
        if train.teacher_forcing_schedule != "constant":
            self.log("train/teacher_forcing", ratio, batch_size=size)
        return loss.loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Random state too, so dropout and scheduled sampling continue exactly after a resume."""
        checkpoint["rng"] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            checkpoint["rng"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        rng = checkpoint.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    def configure_optimizers(self):
        train = self.config.train
        mixed = str(getattr(self._trainer, "precision", "32")).endswith("-mixed")
        optimizer = build_optimizer(self.parameters(), train, fused=not (mixed and train.clip_grad_norm))
        return {"optimizer": optimizer, "lr_scheduler": build_scheduler(optimizer, self.config.train)}

    # ----------------------------------------------------------------------------- validation

    def on_validation_epoch_start(self) -> None:
        self._val_sums = torch.zeros(2, dtype=torch.float64, device=self.device)  # nll, tokens

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss = self.forward_loss(batch)
        self._val_sums += torch.stack([loss.nll.double(), torch.tensor(float(loss.tokens), device=self.device,
                                                                       dtype=torch.float64)])

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        nll, tokens = self.trainer.strategy.reduce(self._val_sums, reduce_op="sum").tolist()
        mean = nll / max(tokens, 1.0)
        # every rank holds the same values (sums reduced above, the whole set decoded on each),
        # so sync_dist only averages equal numbers: it keeps the checkpoint callbacks consistent
        self.log("val/loss", mean, prog_bar=True, sync_dist=True)
        self.log("val/ppl", math.exp(min(mean, 100.0)), sync_dist=True)
        if self.config.train.val_bleu and self.tokenizer is not None:
            for name, value in self.validation_scores().items():
                self.log(f"val/{name}", value, prog_bar=name == "bleu", sync_dist=True)

    def validation_scores(self) -> dict[str, float]:
        """BLEU and chrF of the validation set, decoded as `nmt translate` would."""
        datamodule = self.trainer.datamodule
        sources, references = datamodule.valid_sources, datamodule.valid_references
        limit = self.config.train.val_max_sentences
        if limit:
            sources, references = sources[:limit], references[:limit]
        search = self.config.search.model_copy(update={"beam_size": self.config.train.val_beam, "nbest": 1})
        translator = Translator(self.model, self.tokenizer, search, device=self.device)
        hypotheses = translator(sources)
        if self.trainer.is_global_zero and self.samples:
            self.print_samples(sources, references, hypotheses)
        return {m.metric: m.score for m in score(hypotheses, [references], metrics=("bleu", "chrf"))}

    def print_samples(self, sources: list[str], references: list[str], hypotheses: list[str]) -> None:
        step = max(len(sources) // self.samples, 1)
        lines = [f"\nvalidation samples at step {self.global_step}:"]
        for i in range(0, min(len(sources), step * self.samples), step):
            lines += [f"  src: {sources[i]}", f"  ref: {references[i]}", f"  hyp: {hypotheses[i]}"]
        self.print("\n".join(lines))
