import pytest
import torch

from nmt.config import TrainConfig
from nmt.training.optim import build_optimizer


@pytest.mark.parametrize("name,reference", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_adam_runs_torchs_fused_kernel_and_takes_the_same_steps(name, reference):
    torch.manual_seed(0)
    start = torch.randn(50, 7)
    ours = torch.nn.Parameter(start.clone())
    theirs = torch.nn.Parameter(start.clone())
    cfg = TrainConfig(optimizer=name, lr=0.01, weight_decay=0.01)
    optimizer = build_optimizer([ours], cfg)
    assert optimizer.defaults["fused"] is True
    plain = reference([theirs], lr=0.01, betas=cfg.betas, weight_decay=0.01)
    for _ in range(3):
        grad = torch.randn(50, 7)
        ours.grad, theirs.grad = grad.clone(), grad.clone()
        optimizer.step()
        plain.step()
    torch.testing.assert_close(ours.detach(), theirs.detach())
    assert not torch.equal(ours.detach(), start)


def test_frozen_parameters_are_left_out():
    frozen = torch.nn.Parameter(torch.zeros(3), requires_grad=False)
    trained = torch.nn.Parameter(torch.zeros(3))
    optimizer = build_optimizer([frozen, trained], TrainConfig())
    assert [p for group in optimizer.param_groups for p in group["params"]] == [trained]


@pytest.mark.parametrize("precision,clip,fused", [("32", 1.0, True), ("bf16-mixed", 1.0, False), ("bf16-mixed", None, True)])
def test_mixed_precision_with_clipping_trains_with_the_unfused_optimizer(precision, clip, fused):
    """Lightning refuses gradient clipping with a fused optimizer under mixed precision (it would
    unscale inside the step), which stopped every bf16-mixed run on CPUs with native bf16."""
    from types import SimpleNamespace

    from nmt.config import Config
    from nmt.training.module import TranslationModule

    config = Config.model_validate({"data": {"name": "toy", "train": {"src": "a", "tgt": "b"}},
                                    "model": {"encoder": {"emb_size": 8, "hidden_size": 8},
                                              "decoder": {"emb_size": 8, "hidden_size": 8}},
                                    "train": {"clip_grad_norm": clip}})
    module = TranslationModule(config.model_dump(mode="json"), 12, 12)
    module._trainer = SimpleNamespace(precision=precision)
    optimizer = module.configure_optimizers()["optimizer"]
    assert bool(optimizer.defaults["fused"]) is fused
