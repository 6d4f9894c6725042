import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nmt.config import EncoderConfig
from nmt.model.encoder import Encoder, reversal_index
from nmt.model.recurrent import CELLS
from tiny_models import random_batch



def encoder(cell: str, bidirectional: bool, layers: int) -> Encoder:
    torch.manual_seed(0)
    cfg = EncoderConfig(cell=cell, emb_size=6, hidden_size=5, layers=layers, bidirectional=bidirectional, dropout=0.0)
    return Encoder(cfg, vocab_size=23).eval()


def torch_twin(enc: Encoder, bidirectional: bool, layers: int) -> torch.nn.RNNBase:
    """torch's own multi-layer (bidirectional) RNN holding the encoder's weights."""
    twin = CELLS[enc.cell](6, 5, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    with torch.no_grad():
        for k, layer in enumerate(enc.layers):
            for suffix, rnn in (("", layer.left_to_right), ("_reverse", layer.right_to_left)):
                if rnn is None:
                    continue
                for name, param in rnn.named_parameters():
                    getattr(twin, name.replace("_l0", f"_l{k}{suffix}")).copy_(param)
    return twin


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_encoder_equals_torch_packed_rnn(cell, bidirectional, layers):
    enc = encoder(cell, bidirectional, layers)
    batch = random_batch(sentences=6)
    out = enc(batch.src, batch.src_lengths)

    twin = torch_twin(enc, bidirectional, layers)
    packed = pack_padded_sequence(enc.embedding(batch.src), batch.src_lengths, batch_first=True, enforce_sorted=False)
    states, final = twin(packed)
    states, _ = pad_packed_sequence(states, batch_first=True, total_length=batch.src.size(1))
    final_h = final[0] if isinstance(final, tuple) else final

    torch.testing.assert_close(out.states, states, atol=1e-6, rtol=1e-5)  # both 0 on padding
    torch.testing.assert_close(out.final[0], final_h, atol=1e-6, rtol=1e-5)


def test_encoder_states_do_not_depend_on_padding():
    enc = encoder("lstm", bidirectional=True, layers=2)
    batch = random_batch(sentences=6)
    together = enc(batch.src, batch.src_lengths)
    for row in range(batch.size):
        n = int(batch.src_lengths[row])
        alone = enc(batch.src[row : row + 1, :n], batch.src_lengths[row : row + 1])
        torch.testing.assert_close(together.states[row, :n], alone.states[0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(together.final[0][:, row], alone.final[0][:, 0], atol=1e-6, rtol=1e-5)


def test_mask_marks_real_tokens_and_states_are_zero_on_padding():
    enc = encoder("gru", bidirectional=True, layers=1)
    batch = random_batch(sentences=6)
    out = enc(batch.src, batch.src_lengths)
    assert out.mask.tolist() == batch.src.ne(0).tolist()
    assert out.states[~out.mask].abs().sum() == 0
    assert out.states.shape == (batch.size, batch.src.size(1), 10)


def test_reversal_index_reverses_each_sentence_and_is_its_own_inverse():
    index = reversal_index(torch.tensor([3, 1, 4]), 4)
    assert index.tolist() == [[2, 1, 0, 3], [0, 1, 2, 3], [3, 2, 1, 0]]
    assert index.gather(1, index).tolist() == [[0, 1, 2, 3]] * 3
