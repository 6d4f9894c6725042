"""Training on Lightning: the LightningModule around `Seq2Seq`, optimizers and schedules,
precision from the hardware, the run directory and trainer, throughput and the allocator."""
