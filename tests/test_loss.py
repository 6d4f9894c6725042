import math

import pytest
import torch

from nmt.model.loss import sequence_loss
from nmt.vocab import PAD_ID
from tiny_models import one_thread  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


def reference_loss(logits: torch.Tensor, targets: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Cross entropy against q = (1 - e) one-hot + e uniform over the non-pad vocabulary."""
    log_probs = torch.log_softmax(logits, -1)
    vocab = logits.size(1)
    q = torch.full_like(log_probs, smoothing / (vocab - 1))
    q[:, PAD_ID] = 0.0
    q[torch.arange(len(targets)), targets] += 1.0 - smoothing
    return -(q * log_probs).sum() / len(targets)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_loss_and_gradient_match_the_smoothed_cross_entropy(smoothing):
    torch.manual_seed(0)
    logits = torch.randn(9, 13, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(1, 13, (9,))
    out = sequence_loss(logits, targets, smoothing)
    expected = reference_loss(logits, targets, smoothing)
    torch.testing.assert_close(out.loss, expected)
    grad, = torch.autograd.grad(out.loss, logits)
    expected_grad, = torch.autograd.grad(expected, logits)
    torch.testing.assert_close(grad, expected_grad)


def test_hand_written_gradient_passes_gradcheck():
    torch.manual_seed(0)
    logits = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([1, 6, 3, 3])
    assert torch.autograd.gradcheck(lambda x: sequence_loss(x, targets, 0.2).loss, (logits,))


def test_nll_is_the_plain_summed_negative_log_likelihood_and_gives_perplexity():
    torch.manual_seed(0)
    logits, targets = torch.randn(6, 10), torch.randint(1, 10, (6,))
    out = sequence_loss(logits, targets, label_smoothing=0.1)
    nll = torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
    torch.testing.assert_close(out.nll, nll)
    assert out.tokens == 6
    assert out.perplexity == pytest.approx(math.exp(nll.item() / 6), rel=1e-5)
    assert not out.nll.requires_grad


def test_padding_targets_are_ignored_and_do_not_count():
    torch.manual_seed(0)
    logits, targets = torch.randn(5, 10, requires_grad=True), torch.tensor([4, PAD_ID, 7, PAD_ID, 9])
    out = sequence_loss(logits, targets, 0.1)
    real = sequence_loss(logits[[0, 2, 4]], targets[[0, 2, 4]], 0.1)
    torch.testing.assert_close(out.loss, real.loss)
    assert out.tokens == 3
    out.loss.backward()
    assert torch.all(logits.grad[[1, 3]] == 0)


def test_normalised_by_target_tokens_not_sentences():
    torch.manual_seed(0)
    logits, targets = torch.randn(8, 10), torch.randint(1, 10, (8,))
    half = sequence_loss(logits[:4], targets[:4]).loss
    other = sequence_loss(logits[4:], targets[4:]).loss
    torch.testing.assert_close(sequence_loss(logits, targets).loss, (half + other) / 2)


def test_bf16_logits_give_an_fp32_loss():
    logits = torch.randn(4, 10).to(torch.bfloat16).requires_grad_()
    out = sequence_loss(logits, torch.tensor([1, 2, 3, 4]), 0.1)
    assert out.loss.dtype == torch.float32
    out.loss.backward()
    assert logits.grad.dtype == torch.bfloat16
