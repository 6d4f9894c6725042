import pytest
import torch

from nmt.model.dropout import Dropout, dropout


def test_keeps_elements_with_probability_one_minus_p_and_rescales_them():
    torch.manual_seed(0)
    x = torch.ones(500, 400)
    y = dropout(x, 0.3, training=True)
    kept = y != 0
    assert kept.float().mean().item() == pytest.approx(0.7, abs=0.005)
    torch.testing.assert_close(y[kept], torch.full((int(kept.sum()),), 1 / 0.7))
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)  # expectation preserved


def test_gradient_flows_through_the_kept_elements_only():
    torch.manual_seed(0)
    x = torch.randn(50, 20, requires_grad=True)
    y = dropout(x, 0.5, training=True)
    y.sum().backward()
    torch.testing.assert_close(x.grad, (y != 0).float() * 2.0)


def test_identity_in_eval_mode_and_at_p_zero():
    x = torch.randn(4, 5)
    module = Dropout(0.3).eval()
    assert module(x) is x
    assert dropout(x, 0.0, training=True) is x
    assert torch.equal(dropout(x, 1.0, training=True), torch.zeros_like(x))
