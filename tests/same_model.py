"""One check shared by the tests that pin a model against one built from spelled-out values."""
from __future__ import annotations

import torch


def assert_same_model(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor, seed: int = 1):
    """``a`` and ``b`` hold the same parameters (names, shapes, values) and, in training mode
    under one seed (dropout, masking draws included), give exactly the same logits: (out_a, out_b)."""
    sa, sb = a.state_dict(), b.state_dict()
    assert {k: v.shape for k, v in sa.items()} == {k: v.shape for k, v in sb.items()}
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    a.train(), b.train()
    torch.manual_seed(seed)
    out_a = a(x)
    torch.manual_seed(seed)
    out_b = b(x)
    torch.testing.assert_close(out_a.logits, out_b.logits, rtol=0, atol=0)
    return out_a, out_b
