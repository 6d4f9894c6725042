import pytest
import torch

from nmt.model.attention import ATTENTION, BahdanauAttention, DotAttention, GeneralAttention, build_attention
from tiny_models import random_batch, tiny_model



def memory_and_mask(batch: int = 4, src_len: int = 6, size: int = 8):
    torch.manual_seed(0)
    lengths = torch.tensor([6, 3, 1, 5])[:batch]
    mask = torch.arange(src_len).unsqueeze(0) < lengths.unsqueeze(1)
    return torch.randn(batch, src_len, size) * mask.unsqueeze(2), mask


@pytest.mark.parametrize("name", list(ATTENTION))
def test_weights_sum_to_one_and_are_exactly_zero_on_padding(name):
    memory, mask = memory_and_mask()
    attention = build_attention(name, query_size=8, memory_size=8)
    query = torch.randn(4, 3, 8)  # three queries per sentence, as the fused path asks
    out = attention(query, attention.prepare(memory), memory, mask)
    assert out.weights.shape == (4, 3, 6) and out.context.shape == (4, 3, 8)
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(4, 3))
    padding = ~mask.unsqueeze(1).expand_as(out.weights)
    assert torch.all(out.weights[padding] == 0.0)
    assert torch.all(out.weights[~padding] > 0.0)


def test_luong_scores_match_their_formulas():
    memory, mask = memory_and_mask(size=5)
    query = torch.randn(4, 1, 5)
    dot = DotAttention()
    torch.testing.assert_close(dot.score(query, memory)[1, 0, 2], query[1, 0] @ memory[1, 2])
    general = GeneralAttention(query_size=5, memory_size=5)
    keys = general.prepare(memory)
    w = general.key.weight
    torch.testing.assert_close(general.score(query, keys)[1, 0, 2], query[1, 0] @ (w @ memory[1, 2]))


def test_bahdanau_score_matches_its_formula():
    memory, _ = memory_and_mask(size=5)
    attention = BahdanauAttention(query_size=7, memory_size=5, attention_size=3)
    query = torch.randn(4, 1, 7)
    energy = attention.energy.weight[0] @ torch.tanh(attention.query.weight @ query[2, 0]
                                                    + attention.key.weight @ memory[2, 4] + attention.key.bias)
    torch.testing.assert_close(attention.score(query, attention.prepare(memory))[2, 0, 4], energy)


def test_unknown_attention_lists_the_valid_names():
    with pytest.raises(ValueError, match="bahdanau, dot, general"):
        build_attention("luong_dot", 4, 4)


@pytest.mark.parametrize("attention", ["bahdanau", "general"])
def test_source_keys_are_projected_once_per_sentence_not_per_step(attention):
    model = tiny_model(attention=attention).eval()
    batch = random_batch()
    calls = []
    model.decoder.attention.key.register_forward_hook(lambda *_: calls.append(1))
    state = model.start(model.encode(batch.src, batch.src_lengths))
    for t in range(4):
        state = model.step(state, batch.tgt_in[:, t]).state
    assert len(calls) == 1
