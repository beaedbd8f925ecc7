"""Your own MIL method (chapter 07 §9): a small transformer aggregator, registered in one call.

The patches of a slide first look at each other — one transformer encoder layer (Vaswani et al.,
NeurIPS 2017, arXiv 1706.03762): multi-head self-attention and a feed-forward block, each with a
residual connection and layer norm — and then attention pooling picks the ones that decide the
slide (the idea of TransMIL, Shao et al., NeurIPS 2021, arXiv 2106.00908, in its smallest form):

    h = TransformerLayer(ReLU(W x)),   a = softmax_k(wᵀ h_k),   z = Σ_k a_k h_k,   ŷ = V z.

Padding never takes part (the key padding mask), and the model returns the one output every
method returns (``MILOutput``), so the runner, the statistics, the heatmaps and chapter 07's
table and forest plot use it unchanged. Edit this file and the next run trains again (the
runner's cache key holds its code). The same file works outside the chapter:

    python benchmarks/methods.py --plugin notebooks/07_my_method.py \\
        --methods abmil_gated tiny_transformer --seeds 0 1 2 --epochs 20
"""
from torch import nn

from milhelpers.methods import Method, register
from milhelpers.models import MILModel, MILOutput, as_batch, mask_logits, masked_softmax


class TinyTransformerMIL(MILModel):
    """One transformer layer over the patch embeddings, then attention pooling."""

    def __init__(self, in_dim: int, n_classes: int, embed_dim: int = 64, heads: int = 4,
                 dropout: float = 0.1):
        super().__init__()
        self.n_classes = n_classes
        self.project = nn.Sequential(nn.Linear(in_dim, embed_dim), nn.ReLU(), nn.Dropout(dropout))
        self.mix = nn.TransformerEncoderLayer(embed_dim, heads, 2 * embed_dim, dropout,
                                              batch_first=True)
        self.score = nn.Linear(embed_dim, 1)
        self.classifier = nn.Linear(embed_dim, n_classes)

    def forward(self, x, mask=None) -> MILOutput:
        x, mask = as_batch(x, mask)                                      # (B, N, D), (B, N)
        h = self.mix(self.project(x), src_key_padding_mask=~mask)        # patches see each other
        logits = mask_logits(self.score(h).transpose(1, 2), mask)        # (B, 1 head, N)
        z = (masked_softmax(logits, mask) @ h)[:, 0]                     # (B, E)
        return MILOutput(self.classifier(z), logits, z, mask)


register(Method("tiny_transformer",
                lambda ctx, **kw: TinyTransformerMIL(ctx.in_dim, ctx.n_classes, **kw),
                "one transformer layer over the patches, then attention pooling (chapter 07)"))
