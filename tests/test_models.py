import pytest
import torch

from milhelpers.models import ABMIL, MaxPoolMIL, MeanPoolMIL, build_model, masked_softmax


def _batch(lengths, d=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = max(lengths)
    x = torch.randn(len(lengths), n, d, generator=g)
    mask = torch.zeros(len(lengths), n, dtype=torch.bool)
    for i, k in enumerate(lengths):
        mask[i, :k] = True
        x[i, k:] = 1e3  # garbage in the padding must not matter
    return x, mask


@pytest.mark.parametrize("name", ["abmil_gated", "abmil_tanh", "mean_pool", "max_pool"])
def test_attention_sums_to_one_and_is_zero_on_padding(name):
    x, mask = _batch([5, 17, 9])
    out = build_model(name, 32).eval()(x, mask)
    a = out.attention
    assert a.shape == (3, 1, 17)
    torch.testing.assert_close(a.sum(-1), torch.ones(3, 1))
    assert (a[~mask[:, None, :].expand_as(a)] == 0).all()
    assert (out.attention_logits[~mask[:, None, :].expand_as(a)] == torch.finfo(a.dtype).min).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_masked_softmax_exact_zeros_in_half_precision(dtype):
    logits = torch.randn(2, 3, 10).to(dtype) * 50
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[0, 6:] = False
    a = masked_softmax(logits, mask)
    assert a.dtype == dtype and (a[0, :, 6:] == 0).all()
    torch.testing.assert_close(a.float().sum(-1), torch.ones(2, 3), atol=1e-2, rtol=0)
    model = ABMIL(16).to(dtype).eval()
    x, m = _batch([4, 7], d=16)
    out = model(x.to(dtype), m)
    assert (out.attention[0, :, 4:] == 0).all() and torch.isfinite(out.logits).all()


@pytest.mark.parametrize("name", ["abmil_gated", "abmil_tanh", "mean_pool", "max_pool"])
def test_permutation_invariance_and_padding_invariance(name):
    torch.manual_seed(0)
    model = build_model(name, 32).eval()
    x, mask = _batch([12, 30])
    with torch.no_grad():
        out = model(x, mask)
        perm = torch.randperm(12)
        alone = model(x[0, :12][perm])
    torch.testing.assert_close(alone.logits, out.logits[:1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone.attention[0, 0], out.attention[0, 0, :12][perm], atol=1e-6, rtol=1e-5)


def test_gated_and_tanh_variants_differ_as_specified():
    g, t = ABMIL(64, gated=True), ABMIL(64, gated=False)
    assert g.attention.gate is not None and t.attention.gate is None
    assert isinstance(g.attention.gate[1], torch.nn.Sigmoid)
    assert g.project[0].out_features == 512 and g.attention.tanh[0].out_features == 256  # CLAM small
    k = ABMIL(64, n_branches=3)
    out = k(torch.randn(20, 64))
    assert out.attention_logits.shape == (1, 3, 20) and out.embedding.shape == (1, 3 * 512)


def test_mean_pool_is_uniform_and_max_pool_takes_the_max():
    x, mask = _batch([4, 8], d=8)
    mean = MeanPoolMIL(8).eval()
    a = mean(x, mask).attention
    torch.testing.assert_close(a[0, 0, :4], torch.full((4,), 0.25))
    mx = MaxPoolMIL(8).eval()
    out = mx(x, mask)
    inst = out.extras["instance_logits"]
    torch.testing.assert_close(out.logits[0], inst[0, :4].max(0).values)
    torch.testing.assert_close(out.logits[1], inst[1].max(0).values)


def test_empty_bag_is_rejected_clearly():
    with pytest.raises(ValueError, match="empty bag"):
        ABMIL(8)(torch.zeros(0, 8))
    x, mask = _batch([3, 3], d=8)
    mask[1] = False
    with pytest.raises(ValueError, match="no unmasked instance"):
        ABMIL(8)(x, mask)
    with pytest.raises(KeyError, match="abmil_gated"):
        build_model("transmil", 8)


def test_200k_instance_bag_forward_and_backward():
    torch.manual_seed(0)
    model = ABMIL(64)
    x = torch.randn(200_000, 64)
    out = model(x)
    out.logits.sum().backward()
    assert out.attention.shape == (1, 1, 200_000)
    assert torch.isclose(out.attention.sum(), torch.tensor(1.0), atol=1e-4)
    assert model.project[0].weight.grad is not None and torch.isfinite(model.project[0].weight.grad).all()
