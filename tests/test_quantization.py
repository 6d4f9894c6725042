"""int8 inference (`--int8`): close to fp32, searchable, CPU only, and no longer trainable."""

from __future__ import annotations

import copy

import pytest
import torch

from nmt.config import SearchConfig
from nmt.errors import NMTError
from nmt.decoding.quantization import Int8Linear, int8_available, is_quantized, quantize_decoder
from nmt.decoding.search import search
from nmt.decoding.translator import Translator
from tests.test_translator import SOURCES
from tiny_models import random_batch, tiny_model

pytestmark = pytest.mark.skipif(not int8_available(), reason="this torch build has no fbgemm int8 operators")


def test_int8_linear_is_close_to_the_fp32_product():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 300)
    x = torch.randn(17, 64)
    exact = linear(x)
    approx = Int8Linear.from_linear(linear)(x)
    error = (approx - exact).abs().max() / exact.abs().max()
    assert approx.shape == exact.shape
    assert error < 0.03  # 8-bit weights and activations: about 1% of the range


@pytest.mark.parametrize("attention", ["dot", "general", "bahdanau", "none"])
def test_quantized_decoder_steps_stay_close_to_fp32(attention):
    model = tiny_model(attention=attention).eval()
    quantized = quantize_decoder(copy.deepcopy(model))
    assert is_quantized(quantized) and not is_quantized(model)
    batch = random_batch()
    with torch.no_grad():
        state_a = model.start(model.encode(batch.src, batch.src_lengths))
        state_b = quantized.start(quantized.encode(batch.src, batch.src_lengths))
        for t in range(batch.tgt_in.size(1)):
            a, b = model.step(state_a, batch.tgt_in[:, t]), quantized.step(state_b, batch.tgt_in[:, t])
            assert (a.log_probs.exp() - b.log_probs.exp()).abs().max() < 0.05
            state_a, state_b = a.state, b.state


def test_quantized_model_runs_greedy_and_beam_search():
    model = quantize_decoder(tiny_model(attention="general").eval())
    batch = random_batch()
    with torch.no_grad():
        for beam in (1, 3):
            nbest = search(model, batch.src, batch.src_lengths, SearchConfig(beam_size=beam, nbest=1, max_len=12))
            assert len(nbest) == batch.src.size(0) and all(hyps[0].tokens is not None for hyps in nbest)


def test_translator_int8_translates_every_line(tiny_model_dir):
    exact = Translator.load(tiny_model_dir)
    fast = Translator.load(tiny_model_dir, int8=True)
    assert is_quantized(fast.model) and not is_quantized(exact.model)
    config = SearchConfig(beam_size=3, max_len=20)
    out = fast.translate(SOURCES, config)
    assert [t.source for t in out] == SOURCES and all(t.hypotheses for t in out)


def test_int8_on_a_gpu_device_is_a_one_line_error(tiny_model_dir):
    with pytest.raises(NMTError, match="CPU only"):
        Translator.load(tiny_model_dir, device="meta", int8=True)


def test_translate_command_int8_matches_the_int8_translator(tiny_model_dir, tmp_path, capsys):
    from nmt.commands.main import main

    source = tmp_path / "in.txt"
    source.write_text("".join(line + "\n" for line in SOURCES), encoding="utf-8")
    assert main(["translate", str(tiny_model_dir), "-i", str(source), "--int8", "--beam", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    fast = Translator.load(tiny_model_dir, int8=True)
    config = fast.search_config.model_copy(update={"beam_size": 2, "nbest": 1})
    assert out == [t.text for t in fast.translate(SOURCES, config)]
