import pytest
import torch

from nmt.config import ModelConfig
from nmt.model import build_model
from nmt.vocab import PAD_ID
from tiny_models import tiny_config


def model_with(init: str, seed: int = 0, **options):
    torch.manual_seed(seed)
    return build_model(tiny_config(init=init, **options), 20, 20)


@pytest.mark.parametrize("init_range", [0.1, 0.02])
def test_uniform_draws_every_weight_and_bias_within_the_range(init_range):
    cfg = tiny_config(tie_embeddings=True)
    cfg.init_range = init_range
    model = build_model(cfg, 20, 20)
    for name, param in model.named_parameters():
        assert param.abs().max() <= init_range, name
        # uniform on [-r, r] has std r / sqrt(3); no part is left at zero or at a layer default
        assert param.std() > 0.4 * init_range, name
    assert model.decoder.output.weight is model.decoder.embedding.weight


def test_every_scheme_keeps_padding_embeddings_at_zero():
    for init in ("uniform", "xavier", "torch"):
        model = model_with(init)
        for embedding in (model.encoder.embedding, model.decoder.embedding):
            assert embedding.weight[PAD_ID].abs().sum() == 0, init


def test_xavier_starts_recurrent_blocks_orthogonal_and_the_forget_gate_open():
    model = model_with("xavier", cell="lstm")
    rnn = model.decoder.rnn
    hidden = rnn.hidden_size
    for block in rnn.weight_hh_l0.chunk(4, 0):
        torch.testing.assert_close(block @ block.t(), torch.eye(hidden), atol=1e-5, rtol=0)
    forget = rnn.bias_ih_l0[hidden:2 * hidden]
    assert torch.equal(forget, torch.ones(hidden))
    assert rnn.bias_hh_l0.abs().sum() == 0


def test_torch_scheme_is_each_layers_default():
    model = model_with("torch", cell="gru")
    bound = 1 / model.decoder.rnn.hidden_size ** 0.5  # torch's RNN rule: U(-1/sqrt(hidden), +)
    assert model.decoder.rnn.weight_hh_l0.abs().max() <= bound
    assert model.encoder.embedding.weight.std() > 0.5  # N(0, 1)


def test_the_same_seed_gives_the_same_weights_and_schemes_differ():
    a, b, c = model_with("uniform", seed=3), model_with("uniform", seed=3), model_with("xavier", seed=3)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.decoder.rnn.weight_hh_l0, c.decoder.rnn.weight_hh_l0)


def test_the_default_is_uniform_point_one():
    cfg = ModelConfig()
    assert (cfg.init, cfg.init_range) == ("uniform", 0.1)
