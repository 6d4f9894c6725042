from __future__ import annotations

import itertools
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from nmt.data.batch import Batch
from nmt.data.datamodule import TranslationDataModule
from nmt.errors import DataError
from nmt.vocab import BOS_ID, EOS_ID


def ready(config, **kwargs) -> TranslationDataModule:
    module = TranslationDataModule(config, verbose=False, **kwargs)
    module.prepare_data()
    module.setup("fit")
    return module


def test_datamodule_exposes_vocabulary_tokenizer_and_validation_text(data_config, corpus_dir):
    module = ready(data_config)
    assert module.src_vocab_size == 64
    targets = module.tokenizer.encode_tgt(module.valid_references)
    assert 4 < module.tgt_vocab_size <= 64  # the target pieces seen in training
    assert max(max(row) for row in targets) < module.tgt_vocab_size
    assert module.valid_sources == (corpus_dir / "val.de").read_text(encoding="utf-8").splitlines()
    assert module.valid_references == (corpus_dir / "val.en").read_text(encoding="utf-8").splitlines()
    ids = module.tokenizer.encode_src(module.valid_sources[:3])
    assert module.tokenizer.decode_src(ids) == module.valid_sources[:3]


def test_train_loader_yields_batches_of_every_pair_once(data_config):
    module = ready(data_config)
    batches = list(module.train_dataloader())
    assert all(isinstance(b, Batch) for b in batches)
    rows = sorted(itertools.chain.from_iterable(b.index.tolist() for b in batches))
    assert rows == list(range(300))
    batch = batches[0]
    assert (batch.tgt_in[:, 0] == BOS_ID).all()
    assert (batch.src.gather(1, batch.src_lengths.unsqueeze(1) - 1) == EOS_ID).all()
    assert batch.size * batch.src.size(1) <= data_config.batch_tokens


def test_valid_loader_covers_the_validation_set_in_length_order(data_config):
    module = ready(data_config)
    batches = list(module.val_dataloader())
    rows = sorted(itertools.chain.from_iterable(b.index.tolist() for b in batches))
    assert rows == list(range(40))
    assert 0 <= module.padding_share < 0.5


def test_each_ddp_rank_loads_its_own_share_of_every_epoch(data_config):
    shares = []
    for rank in range(3):
        module = ready(data_config)
        module.trainer = SimpleNamespace(world_size=3, global_rank=rank)  # what Lightning sets under DDP
        shares.append([b.index.tolist() for b in module.train_dataloader()])
    assert len({len(share) for share in shares}) == 1
    rows = sorted(itertools.chain.from_iterable(itertools.chain.from_iterable(shares)))
    assert rows == list(range(300))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batches_arrive_pinned_when_cuda_is_there(data_config):
    batch = next(iter(ready(data_config).train_dataloader()))
    assert batch.src.is_pinned() and batch.tgt_out.is_pinned()


def test_setup_before_prepare_is_a_one_line_error(data_config):
    with pytest.raises(DataError, match=r"is not prepared; run `nmt prepare` first"):
        TranslationDataModule(data_config, verbose=False).setup("fit")


def test_setup_after_the_config_changed_asks_to_prepare_again(data_config):
    ready(data_config)
    data_config.tokenizer.vocab_size = 70
    with pytest.raises(DataError, match="prepared from a different data config"):
        TranslationDataModule(data_config, verbose=False).setup("fit")


class RecordValidation(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.validated: list[int] = []

    def training_step(self, batch: Batch, batch_idx: int):
        return (self.weight * batch.src.float().mean()).sum()

    def validation_step(self, batch: Batch, batch_idx: int):
        self.validated.extend(batch.index.tolist())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lightning_validates_on_every_validation_pair_once(data_config, tmp_path):
    module = RecordValidation()
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False, num_sanity_val_steps=0,
                        default_root_dir=tmp_path)
    trainer.fit(module, datamodule=TranslationDataModule(data_config, verbose=False))
    assert sorted(module.validated) == list(range(40))


# ----------------------------------------------------------------------------- exact resume


class Crash(RuntimeError):
    """Stands in for SIGKILL: the run dies with no chance to save anything more."""


class RecordBatches(L.LightningModule):
    """Trivial model that remembers the row indices of every batch it trains on."""

    def __init__(self, crash_at_step: int | None = None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.crash_at_step = crash_at_step
        self.seen: list[list[int]] = []

    def training_step(self, batch: Batch, batch_idx: int):
        if self.global_step == self.crash_at_step:
            raise Crash()
        self.seen.append(batch.index.tolist())
        return (self.weight * batch.src.float().mean()).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(config, tmp_path, module, ckpt_path=None):
    trainer = L.Trainer(
        max_epochs=2, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        default_root_dir=tmp_path,
        callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="{step}", every_n_train_steps=1,
                                   save_top_k=-1)],
    )
    data = TranslationDataModule(config, seed=11, verbose=False)
    try:
        trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    except Crash:
        pass
    return module.seen


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The dirpath has changed", "ignore:You passed in a `val_dataloader`")
@pytest.mark.parametrize("crash, workers", [("mid", 0), ("end", 0), ("next", 0), ("next", 2)])
def test_run_killed_mid_epoch_resumes_with_the_identical_batch_sequence(data_config, tmp_path, crash, workers):
    data_config.num_workers = workers
    uninterrupted = fit(data_config, tmp_path / "a", RecordBatches())
    per_epoch = len(uninterrupted) // 2
    step = {"mid": per_epoch // 2, "end": per_epoch, "next": per_epoch + 3}[crash]
    before = fit(data_config, tmp_path / "b", RecordBatches(crash_at_step=step))
    assert len(before) == step
    after = fit(data_config, tmp_path / "c", RecordBatches(), ckpt_path=tmp_path / "b" / "ckpt" / f"step={step}.ckpt")
    assert before + after == uninterrupted
    assert uninterrupted[:per_epoch] != uninterrupted[per_epoch:]  # epochs differ in order
