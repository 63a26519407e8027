"""Split execution of the real models: exactness at rho = 0, the quantiser, the bit count, the metrics."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfer.real import split_execution as ci
from coinfer.real.models import load_model, load_tokenizer

# Real text of three lengths, so that padding is exercised (right padding, as both tokenizers do).
SENTENCES = [
    "Edge servers finish the forward pass that the device began, and send back the answer.",
    "Pruning zeroes weights.",
    "The uplink carries the hidden states of one block, quantised to a few bits per value.",
]


@pytest.fixture(scope="module", params=["minilm", "smollm2"])
def real(request):
    torch.set_num_threads(1)
    model = load_model(request.param)
    tok = load_tokenizer(request.param)
    enc = tok(SENTENCES, return_tensors="pt", padding=True)
    return model, enc["input_ids"], enc["attention_mask"]


def _valid(out, mask):
    return out[mask.bool()] if out.ndim == 3 else out


def test_padding_is_exercised(real):
    _, ids, mask = real
    assert int(mask.sum(dim=1).min()) < ids.shape[1]


def test_split_reproduces_unsplit_model_at_every_split(real):
    model, ids, mask = real
    ref = _valid(ci.full_forward(model, ids, mask), mask)
    for s in range(ci.n_blocks(model) + 1):
        out = _valid(ci.split_forward(model, ids, mask, split=s, b_act=None).output, mask)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5, msg=f"split {s}")


def test_each_sequence_alone_matches_the_padded_batch(real):
    # Padding must not leak into the valid tokens' outputs.
    model, ids, mask = real
    batch = ci.split_forward(model, ids, mask, split=1, b_act=None).output
    n = int(mask[1].sum())
    alone = ci.split_forward(model, ids[1:2, :n], None, split=1, b_act=None).output
    if batch.ndim == 3:
        torch.testing.assert_close(batch[1, :n], alone[0], rtol=1e-4, atol=1e-4)
    else:
        torch.testing.assert_close(batch[1], alone[0], rtol=1e-5, atol=1e-5)


def test_bits_sent_match_the_system_model(real):
    model, ids, mask = real
    L, d = ci.n_blocks(model), model.config.hidden_size
    n_tok, n_seq = int(mask.sum()), ids.shape[0]
    r = ci.split_forward(model, ids, mask, split=1, b_act=16, granularity="token")
    assert r.bits["payload"] == n_tok * d * 16
    assert r.bits["side"] == n_tok * ci.SIDE_BITS_PER_RANGE + n_seq * ci.LENGTH_BITS
    r = ci.split_forward(model, ids, mask, split=1, b_act=8, granularity="tensor")
    assert r.bits["side"] == n_seq * (ci.SIDE_BITS_PER_RANGE + ci.LENGTH_BITS)
    assert ci.split_forward(model, ids, mask, split=L).bits["total"] == 0
    assert ci.split_forward(model, ids, mask, split=0).bits["payload"] == 32 * n_tok


def test_fewer_bits_more_distortion(real):
    model, ids, mask = real
    ref = ci.full_forward(model, ids, mask)
    err = [
        ci.output_distortion(ci.split_forward(model, ids, mask, 1, b).output, ref, mask)["rel_l2"]
        for b in (2, 16)
    ]
    assert err[1] < err[0]
    assert err[1] < 1e-3


def test_dense_server_model_is_used():
    torch.set_num_threads(1)
    model = load_model("minilm")
    tok = load_tokenizer("minilm")
    enc = tok(SENTENCES, return_tensors="pt", padding=True)
    zeroed = load_model("minilm")  # each load is a fresh copy
    with torch.no_grad():
        for p in zeroed.encoder.layer[0].parameters():
            p.zero_()
    ids, mask = enc["input_ids"], enc["attention_mask"]
    ref = ci.full_forward(model, ids, mask)
    # At split 1, block 1 runs on the device: damage to the server's copy of it must not show,
    # and damage to the device's copy must.
    mixed = ci.split_forward(model, ids, mask, split=1, b_act=None, server_model=zeroed).output
    torch.testing.assert_close(mixed, ref, rtol=1e-5, atol=1e-5)
    damaged = ci.split_forward(zeroed, ids, mask, split=1, b_act=None, server_model=model).output
    assert ci.output_distortion(damaged, ref)["rel_l2"] > 1e-2


@settings(max_examples=40, deadline=None)
@given(
    bits=st.integers(1, 12),
    granularity=st.sampled_from(ci.GRANULARITIES),
    seed=st.integers(0, 2**16),
    scale=st.floats(1e-3, 1e3),
)
def test_quantiser_error_is_at_most_half_a_step(bits, granularity, seed, scale):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(2, 5, 7, generator=g) * scale
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    q = ci.quantise_features(h, mask, bits, granularity)
    valid = mask.bool()
    dims = (0, 1) if granularity == "tensor" else (1,)
    for b in range(2):
        x, y = h[b][valid[b]].double(), q[b][valid[b]].double()
        lo, hi = x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
        step = (hi - lo) / (2**bits - 1)
        assert torch.all((x - y).abs() <= step / 2 * (1 + 1e-6) + 1e-12)
        assert len(torch.unique(y)) <= (2**bits) * (1 if granularity == "tensor" else x.shape[0])
    assert torch.all(q[1, 3:] == 0)  # padding is not sent


def test_quantiser_constant_range_is_exact():
    h = torch.full((1, 3, 4), 2.5)
    q = ci.quantise_features(h, torch.ones(1, 3, dtype=torch.long), 4, "token")
    assert torch.equal(q, h)


def test_bad_inputs_raise_clear_errors():
    model = load_model("minilm")
    ids = torch.tensor([[101, 2023, 102]])
    with pytest.raises(ValueError, match="split must be an integer in \\[0, 6\\]"):
        ci.split_forward(model, ids, split=7)
    with pytest.raises(ValueError, match="b_act must be an integer in \\[1, 24\\]"):
        ci.split_forward(model, ids, split=2, b_act=0)
    with pytest.raises(ValueError, match="granularity"):
        ci.split_forward(model, ids, split=2, granularity="channel")
    with pytest.raises(ValueError, match="right-padded"):
        ci.split_forward(model, ids, torch.tensor([[0, 1, 1]]), split=2)
    with pytest.raises(TypeError, match="LlamaForCausalLM or a BertModel"):
        ci.split_forward(torch.nn.Linear(2, 2), ids)


def test_perplexity_of_a_uniform_predictor_is_the_vocabulary_size():
    logits = torch.zeros(2, 6, 11)
    ids = torch.randint(0, 11, (2, 6), generator=torch.Generator().manual_seed(0))
    assert ci.logits_perplexity(logits, ids) == pytest.approx(11.0)


def test_embedding_metrics():
    g = torch.Generator().manual_seed(1)
    ref = torch.randn(12, 8, generator=g)
    assert ci.neighbour_recall(ref, ref, k=3) == 1.0
    assert ci.similarity_correlation(ref, ref) == pytest.approx(1.0)
    np.testing.assert_allclose(ci.cosine_to_reference(2 * ref, ref), 1.0)
    other = torch.randn(12, 8, generator=g)
    assert ci.neighbour_recall(other, ref, k=3) < 1.0
    assert ci.similarity_correlation(other, ref) < 0.9
    with pytest.raises(ValueError, match="k must be an integer in \\[1, 11\\]"):
        ci.neighbour_recall(ref, ref, k=12)


def test_english_batches_have_the_requested_shape():
    ids, mask = ci.english_batch("smollm2", 2, 16)
    assert ids.shape == (2, 16) and bool(mask.all())
    ids, mask = ci.english_batch("minilm", 5, 24, seed=1)
    assert ids.shape[0] == 5 and ids.shape[1] <= 24
    assert torch.equal(ids, ci.english_batch("minilm", 5, 24, seed=1)[0])
    with pytest.raises(ValueError, match="model must be one of minilm, smollm2; got 'gpt2'"):
        ci.english_batch("gpt2", 2, 16)


def test_english_batch_cache_returns_the_tokenised_batch(tmp_path, monkeypatch):
    monkeypatch.setenv("COINFER_CACHE", str(tmp_path))

    def entries():
        return sorted(tmp_path.glob("batch*"))

    for key, n_seq in (("minilm", 4), ("smollm2", 2)):
        before = entries()
        fresh = ci.english_batch(key, n_seq, 16, seed=2, use_cache=False)
        assert entries() == before  # nothing written without the cache
        first = ci.english_batch(key, n_seq, 16, seed=2)  # tokenises and writes the cache
        assert len(entries()) == len(before) + 1
        again = ci.english_batch(key, n_seq, 16, seed=2)  # read back from the cache
        assert len(entries()) == len(before) + 1
        for a, b, c in zip(fresh, first, again, strict=False):
            assert torch.equal(a, b) and torch.equal(a, c)
        # another text (seed) is another cache entry, not a stale hit
        other = ci.english_batch(key, n_seq, 16, seed=3)
        assert len(entries()) == len(before) + 2
        assert not torch.equal(other[0], fresh[0])


def test_measure_points_on_minilm():
    torch.set_num_threads(1)
    ids, mask = ci.english_batch("minilm", 8, 32)
    pts = [(3, 0.5), (1, 0.0), (6, 0.5)]
    m = ci.measure_points("minilm", pts, ids, mask, b_act=None, k=2)
    assert [(x.split, round(x.rho, 6)) for x in m] == pts  # order kept
    assert m[1].param_distortion == 0.0 and m[1].floor == 0.0 and m[1].out_rel_l2 < 1e-5
    assert m[1].quality["neighbour_recall"] == 1.0
    assert m[0].param_distortion > 0 and m[0].floor > 0
    # The whole model is pruned alike, so without quantisation the split does not change the output.
    assert m[0].out_rel_l2 == pytest.approx(m[2].out_rel_l2, rel=1e-4)
    assert m[2].bits_per_seq == 0.0
    assert m[1].payload_per_seq == pytest.approx(float(mask.sum()) * 384 * 32 / 8)
    model = load_model("minilm")
    assert ci.parameter_distortion(model, model, "minilm") == 0.0
    assert ci.laplace_rate(model, "minilm") > 0
    with pytest.raises(ValueError, match="rho must be in \\[0, 1\\)"):
        ci.measure_points("minilm", [(1, 1.0)], ids, mask)
