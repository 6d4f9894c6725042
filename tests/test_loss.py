import math

import pytest
import torch

from nmt.model.loss import sequence_loss
from nmt.vocab import PAD_ID



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


def _projected_and_two_step(features, linear, targets, smoothing, **kwargs):
    """(projected_loss output, its grads) and (sequence_loss output, its grads) on copies."""
    from nmt.model.loss import projected_loss

    results = []
    for fn in (lambda f: projected_loss(f, linear, targets, smoothing, **kwargs),
               lambda f: sequence_loss(linear(f), targets, smoothing)):
        f = features.detach().clone().requires_grad_()
        linear.zero_grad()
        out = fn(f)
        out.loss.backward()
        results.append((out, [f.grad.clone(), linear.weight.grad.clone(), linear.bias.grad.clone()]))
    return results


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_projected_loss_equals_output_layer_then_loss_across_uneven_chunks(smoothing):
    torch.manual_seed(0)
    linear = torch.nn.Linear(6, 13).double()
    features = torch.randn(150, 6, dtype=torch.float64)  # 64-row chunks: 64 + 64 + 22
    targets = torch.randint(1, 13, (150,))
    (new, new_grads), (old, old_grads) = _projected_and_two_step(features, linear, targets, smoothing, chunk_bytes=1)
    torch.testing.assert_close(new.loss, old.loss)
    torch.testing.assert_close(new.nll, old.nll)
    assert new.tokens == old.tokens == 150
    for got, expected in zip(new_grads, old_grads):
        torch.testing.assert_close(got, expected)


def test_projected_loss_drops_padding_targets():
    torch.manual_seed(0)
    linear = torch.nn.Linear(4, 9)
    features, targets = torch.randn(5, 4), torch.tensor([4, PAD_ID, 7, PAD_ID, 8])
    (new, new_grads), (old, old_grads) = _projected_and_two_step(features, linear, targets, 0.1)
    torch.testing.assert_close(new.loss, old.loss)
    assert new.tokens == 3
    assert torch.all(new_grads[0][[1, 3]] == 0)
    torch.testing.assert_close(new_grads[1], old_grads[1])


def test_projected_loss_without_autograd_gives_the_same_loss():
    from nmt.model.loss import projected_loss

    torch.manual_seed(0)
    linear = torch.nn.Linear(4, 9)
    features, targets = torch.randn(7, 4), torch.randint(1, 9, (7,))
    with torch.no_grad():
        out = projected_loss(features, linear, targets, 0.1)
    torch.testing.assert_close(out.loss, sequence_loss(linear(features), targets, 0.1).loss.detach())
    assert not out.loss.requires_grad


def test_projected_loss_under_bf16_autocast_is_fp32_with_fp32_weight_gradients():
    from nmt.model.loss import projected_loss

    torch.manual_seed(0)
    linear = torch.nn.Linear(8, 16)
    features = torch.randn(10, 8).to(torch.bfloat16).requires_grad_()
    targets = torch.randint(1, 16, (10,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = projected_loss(features, linear, targets, 0.1)
    assert out.loss.dtype == torch.float32
    out.loss.backward()
    assert features.grad.dtype == torch.bfloat16 and linear.weight.grad.dtype == torch.float32
    expected = sequence_loss(linear(features.float()), targets, 0.1).loss
    torch.testing.assert_close(out.loss, expected, atol=0.05, rtol=0.02)


def test_model_gradients_are_the_same_through_the_projected_loss():
    """Training's path (features, then `projected_loss`) against logits, then `sequence_loss`,
    for every parameter, with the output layer tied to the target embedding."""
    from tiny_models import random_batch, tiny_model

    from nmt.model.loss import projected_loss

    model = tiny_model(tie_embeddings=True).eval()
    batch = random_batch()
    grads = []
    for project in (False, True):
        model.zero_grad()
        out = model(batch.src, batch.src_lengths, batch.tgt_in, project=project)
        targets = batch.tgt_out[out.mask]
        if project:
            loss = sequence_loss(out.logits, targets, 0.1)
        else:
            assert out.logits is None
            loss = projected_loss(out.features, model.decoder.output, targets, 0.1, chunk_bytes=1)
        loss.loss.backward()
        grads.append({name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-6, rtol=1e-5, msg=name)
