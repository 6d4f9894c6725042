import pytest
import torch

from nmt.model.loss import sequence_loss
from tiny_models import fused_grid, grid, random_batch, tiny_model



@pytest.mark.parametrize("cell,attention,bidirectional", fused_grid())
@pytest.mark.parametrize("layers", [1, 2])
def test_fused_path_equals_step_path(cell, attention, bidirectional, layers):
    model = tiny_model(cell=cell, attention=attention, bidirectional=bidirectional, input_feeding=False,
                       layers=layers).eval()
    assert model.decoder.can_fuse()
    batch = random_batch()
    fused = model(batch.src, batch.src_lengths, batch.tgt_in, fused=True, return_attention=True)
    stepped = model(batch.src, batch.src_lengths, batch.tgt_in, fused=False, return_attention=True)
    torch.testing.assert_close(fused.logits, stepped.logits, atol=1e-5, rtol=1e-4)
    if attention != "none":
        torch.testing.assert_close(fused.attention, stepped.attention, atol=1e-6, rtol=1e-5)


def test_fused_and_step_gradients_agree_in_training_mode_without_dropout():
    model = tiny_model(attention="general", input_feeding=False, layers=2).train()
    batch = random_batch()
    grads = []
    for fused in (True, False):
        model.zero_grad()
        out = model(batch.src, batch.src_lengths, batch.tgt_in, fused=fused)
        sequence_loss(out.logits, batch.tgt_out[out.mask], 0.1).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cell,attention,bidirectional", grid())
@pytest.mark.parametrize("grad", [True, False], ids=["autograd", "search-weights"])
def test_search_step_gives_the_training_log_probs(cell, attention, bidirectional, grad):
    """`step`, one position at a time as search calls it (without autograd: the arranged
    decoding weights, gate table and joint product), equals the teacher-forced forward."""
    model = tiny_model(cell=cell, attention=attention, bidirectional=bidirectional).eval()
    batch = random_batch()
    out = model(batch.src, batch.src_lengths, batch.tgt_in)
    expected = torch.log_softmax(out.logits, -1)
    with torch.set_grad_enabled(grad):
        state = model.start(model.encode(batch.src, batch.src_lengths))
        per_step = []
        for t in range(batch.tgt_in.size(1)):
            step = model.step(state, batch.tgt_in[:, t])
            per_step.append(step.log_probs)
            state = step.state
    torch.testing.assert_close(torch.stack(per_step, 1)[out.mask], expected.detach(), atol=1e-5, rtol=1e-4)


def test_search_weights_follow_a_parameter_update():
    """The arranged decoding weights are a cache: an in-place change of a weight rebuilds them."""
    model = tiny_model(attention="general").eval()
    batch = random_batch()
    with torch.no_grad():
        state = model.start(model.encode(batch.src, batch.src_lengths))
        before = model.step(state, batch.tgt_in[:, 0]).log_probs
        model.decoder.rnn.weight_hh_l0.mul_(2.0)
        model.decoder.embedding.weight.add_(0.5)
        after = model.step(state, batch.tgt_in[:, 0]).log_probs
        model.decoder._decoding = None  # what a fresh cache computes
        fresh = model.step(state, batch.tgt_in[:, 0]).log_probs
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, fresh)


def test_logits_are_computed_for_real_target_tokens_only():
    model = tiny_model()
    batch = random_batch()
    out = model(batch.src, batch.src_lengths, batch.tgt_in)
    assert out.logits.shape == (batch.num_target_tokens, 23)
    assert out.mask.tolist() == batch.tgt_out.ne(0).tolist()


def test_scheduled_sampling_runs_differs_from_teacher_forcing_and_trains():
    model = tiny_model(attention="general", input_feeding=True).train()
    batch = random_batch(sentences=8, high=9)
    torch.manual_seed(3)
    forced = model(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing=1.0)
    torch.manual_seed(3)
    sampled = model(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing=0.5)
    assert sampled.logits.shape == forced.logits.shape
    assert not torch.allclose(sampled.logits, forced.logits)
    # the first position always reads BOS, so its logits do not change
    first = torch.zeros_like(forced.mask)
    first[:, 0] = True
    first_rows = first[forced.mask]  # (tokens,) which logits rows are position 0
    torch.testing.assert_close(sampled.logits[first_rows], forced.logits[first_rows])
    sequence_loss(sampled.logits, batch.tgt_out[sampled.mask]).loss.backward()
    assert all(p.grad is not None for p in model.decoder.parameters())


def test_fused_path_refuses_configurations_that_need_steps():
    model = tiny_model(attention="general", input_feeding=True)
    batch = random_batch()
    with pytest.raises(ValueError, match="fused path"):
        model(batch.src, batch.src_lengths, batch.tgt_in, fused=True)
    assert not tiny_model(attention="none").decoder.can_fuse(teacher_forcing=0.9)


def test_tied_output_layer_shares_the_target_embedding():
    model = tiny_model(tie_embeddings=True)
    decoder = model.decoder
    assert decoder.output.weight is decoder.embedding.weight
    assert decoder.output_size == decoder.embedding.embedding_dim
    untied = tiny_model(tie_embeddings=False)
    tied_count = sum(p.numel() for p in model.parameters())
    assert tied_count < sum(p.numel() for p in untied.parameters())
    batch = random_batch()
    out = model(batch.src, batch.src_lengths, batch.tgt_in)
    sequence_loss(out.logits, batch.tgt_out[out.mask]).loss.backward()
    assert decoder.embedding.weight.grad is not None


def test_in_place_tanh_equals_torch_tanh_over_its_range():
    from nmt.model.recurrent import tanh_

    x = torch.cat([torch.linspace(-40, 40, 20001), torch.tensor([0.0, 1e-8, -1e-8])])
    torch.testing.assert_close(tanh_(x.clone()), torch.tanh(x), atol=1e-6, rtol=0)


def test_in_place_activations_only_serve_computations_without_autograd():
    """Training must keep torch's tanh: the in-place form would break the autograd graph."""
    from nmt.model.recurrent import in_place_activations

    x = torch.zeros(2, 3)
    assert not in_place_activations(x)
    with torch.no_grad():
        assert in_place_activations(x)


def test_search_weights_follow_a_fused_adam_step_between_evaluations():
    """torch's fused Adam changes parameters without bumping their versions: validation after a
    training step must still search with the new weights (it did not, once: stale val BLEU)."""
    model = tiny_model(attention="general")
    batch = random_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05, fused=True)

    def first_step_log_probs():
        with torch.no_grad():
            state = model.start(model.encode(batch.src, batch.src_lengths))
            return model.step(state, batch.tgt_in[:, 0]).log_probs

    model.eval()
    before = first_step_log_probs()
    model.train()
    out = model(batch.src, batch.src_lengths, batch.tgt_in)
    sequence_loss(out.logits, batch.tgt_out[out.mask]).loss.backward()
    optimizer.step()
    model.eval()
    after = first_step_log_probs()
    model.decoder._decoding = None  # what a fresh cache computes
    torch.testing.assert_close(after, first_step_log_probs())
    assert not torch.allclose(before, after)


def test_search_weights_are_arranged_once_across_batches_in_eval_mode(monkeypatch):
    """The Translator calls `eval()` and restores the mode around every batch: that must not throw
    the arranged weights away (it did, once: the gate table and int8 packing redone per batch,
    about a quarter of an int8 beam search)."""
    from nmt.model import recurrent

    built = []
    arrange = recurrent.decoding_weights
    monkeypatch.setattr(recurrent, "decoding_weights", lambda *a, **k: built.append(1) or arrange(*a, **k))
    model = tiny_model(attention="general").eval()
    batch = random_batch()
    for _ in range(3):
        model.eval()
        with torch.no_grad():
            model.step(model.start(model.encode(batch.src, batch.src_lengths)), batch.tgt_in[:, 0])
        model.train(False)
    assert len(built) == 1
    model.train()
    model.eval()
    with torch.no_grad():
        model.step(model.start(model.encode(batch.src, batch.src_lengths)), batch.tgt_in[:, 0])
    assert len(built) == 2
