"""The same model on a CUDA device as on the CPU: logits, gradients, search, and a short Lightning
run in fp32 and bf16-mixed. Skipped without a GPU (CI has none); run them where one is lent:
`pytest -m gpu`."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from nmt.config import SearchConfig
from nmt.model.loss import sequence_loss
from nmt.decoding.search import search
from tests.tiny_models import random_batch, tiny_model

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

PATHS = [("general", True), ("general", False), ("bahdanau", True), ("none", True)]  # step, fused, step, fused


@pytest.fixture(autouse=True)
def full_fp32():
    """No TF32 in these comparisons: fp32 on both devices agrees to ~1e-6, TF32 only to ~1e-3."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def on_cuda(batch):
    return batch.src.cuda(), batch.src_lengths.cuda(), batch.tgt_in.cuda(), batch.tgt_out.cuda()


@pytest.mark.parametrize("attention, input_feeding", PATHS)
def test_logits_and_gradients_on_cuda_match_the_cpu(attention, input_feeding):
    model = tiny_model(attention=attention, input_feeding=input_feeding)
    gpu_model = copy.deepcopy(model).cuda()
    batch = random_batch(sentences=6)
    cpu_out = model(batch.src, batch.src_lengths, batch.tgt_in)
    src, lengths, tgt_in, tgt_out = on_cuda(batch)
    gpu_out = gpu_model(src, lengths, tgt_in)
    torch.testing.assert_close(gpu_out.logits.cpu(), cpu_out.logits, atol=1e-4, rtol=1e-4)

    sequence_loss(cpu_out.logits, batch.tgt_out[cpu_out.mask], 0.1).loss.backward()
    sequence_loss(gpu_out.logits, tgt_out[gpu_out.mask], 0.1).loss.backward()
    for (name, cpu_param), gpu_param in zip(model.named_parameters(), gpu_model.parameters()):
        assert gpu_param.grad is not None, name
        torch.testing.assert_close(gpu_param.grad.cpu(), cpu_param.grad, atol=1e-4, rtol=1e-3, msg=name)


@pytest.mark.parametrize("beam", [1, 4])
@pytest.mark.parametrize("attention, input_feeding", PATHS)
def test_search_on_cuda_finds_what_the_cpu_finds(attention, input_feeding, beam):
    model = tiny_model(attention=attention, input_feeding=input_feeding).eval()
    gpu_model = copy.deepcopy(model).cuda()
    batch = random_batch(sentences=7, seed=3)
    config = SearchConfig(beam_size=beam, nbest=1, max_len=12)
    with torch.inference_mode():
        cpu = search(model, batch.src, batch.src_lengths, config)
        src, lengths, _, _ = on_cuda(batch)
        gpu = search(gpu_model, src, lengths, config)
    assert [h[0].tokens for h in gpu] == [h[0].tokens for h in cpu]
    for g, c in zip(gpu, cpu):
        assert g[0].log_prob == pytest.approx(c[0].log_prob, abs=1e-3)


@pytest.mark.parametrize("precision", ["32", "bf16-mixed"])
def test_training_on_the_gpu_logs_finite_losses_and_exports_a_model_that_translates(tmp_path, precision):
    from nmt.commands.main import main
    from nmt.decoding.translator import Translator
    from tests.test_train import logged_losses, tiny_run_config

    config = tiny_run_config(tmp_path, max_steps=8, val_every_steps=4, checkpoint_every_steps=4,
                             accelerator="gpu", precision=precision)
    assert main(["train", "--config", str(config)]) == 0
    run = tmp_path / "runs" / "toy"
    losses = logged_losses(run)
    assert sorted(losses) == list(range(8)) and all(math.isfinite(x) for x in losses.values())
    translator = Translator.load(run / "export", device="cuda")
    assert next(translator.model.parameters()).is_cuda
    out = translator(["abc de", ""])
    assert len(out) == 2 and out[1] == ""
