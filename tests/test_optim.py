import pytest
import torch

from nmt.config import TrainConfig
from nmt.training.optim import build_optimizer, build_scheduler, lr_factor


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


# lr factor at 0-based optimizer steps, by hand: warm-up is n / warmup for n = step + 1 < warmup;
# inverse_sqrt then decays as sqrt(warmup / n); step halves every step_size steps after warm-up;
# min_lr / lr floors every factor, warm-up included.
SCHEDULES = [
    ("constant", dict(), {0: 1.0, 5: 1.0, 10_000: 1.0}),
    ("constant", dict(warmup_steps=4), {0: 0.25, 1: 0.5, 2: 0.75, 3: 1.0, 100: 1.0}),
    ("constant", dict(warmup_steps=4, min_lr=5e-4), {0: 0.5, 1: 0.5, 2: 0.75, 3: 1.0}),
    ("inverse_sqrt", dict(warmup_steps=4), {0: 0.25, 2: 0.75, 3: 1.0, 15: 0.5, 399: 0.1}),
    ("inverse_sqrt", dict(warmup_steps=4, min_lr=2e-4), {0: 0.25, 15: 0.5, 99: 0.2, 399: 0.2}),
    ("step", dict(step_size=10, step_gamma=0.5), {0: 1.0, 9: 1.0, 10: 0.5, 25: 0.25}),
    ("step", dict(step_size=10, step_gamma=0.5, warmup_steps=4), {0: 0.25, 3: 1.0, 13: 1.0, 14: 0.5, 24: 0.25}),
    ("step", dict(step_size=10, step_gamma=0.5, warmup_steps=4, min_lr=3e-4), {0: 0.3, 14: 0.5, 24: 0.3, 500: 0.3}),
]


@pytest.mark.parametrize("schedule,options,factors", SCHEDULES,
                         ids=[f"{s}-{'-'.join(o) or 'plain'}" for s, o, _ in SCHEDULES])
def test_lr_factor_per_schedule_with_warmup_and_floor(schedule, options, factors):
    factor = lr_factor(TrainConfig(schedule=schedule, lr=1e-3, **options))
    assert {step: factor(step) for step in factors} == pytest.approx(factors)


def test_the_scheduler_sets_the_optimizers_lr_from_the_factor():
    cfg = TrainConfig(schedule="inverse_sqrt", warmup_steps=4, lr=2e-3)
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = build_optimizer([param], cfg)
    scheduler = build_scheduler(optimizer, cfg)
    assert scheduler["interval"] == "step"
    seen = []
    for _ in range(16):
        seen.append(optimizer.param_groups[0]["lr"])
        param.grad = torch.ones(2)
        optimizer.step()
        scheduler["scheduler"].step()
    assert seen == pytest.approx([2e-3 * lr_factor(cfg)(step) for step in range(16)])


@pytest.mark.parametrize("monitor,mode", [("bleu", "max"), ("chrf", "max"), ("loss", "min"), ("ppl", "min")])
def test_plateau_reduces_on_the_monitored_metric(monitor, mode):
    cfg = TrainConfig(schedule="plateau", monitor=monitor, plateau_factor=0.25, plateau_patience=3, min_lr=1e-5,
                      val_every_steps=50)
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(2))], cfg)
    config = build_scheduler(optimizer, cfg)
    scheduler = config["scheduler"]
    assert isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert (scheduler.mode, scheduler.factor, scheduler.patience, scheduler.min_lrs) == (mode, 0.25, 3, [1e-5])
    assert (config["monitor"], config["interval"], config["frequency"]) == (f"val/{monitor}", "step", 50)


@pytest.mark.parametrize("options,message", [
    (dict(schedule="plateau", warmup_steps=10), "warmup_steps is not supported with schedule plateau"),
    (dict(schedule="inverse_sqrt"), "schedule inverse_sqrt needs warmup_steps > 0"),
])
def test_schedule_options_that_cannot_work_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options)
