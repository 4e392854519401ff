"""A factorized space-time transformer denoiser for video diffusion (a "video DiT", lesson 05).

Each frame is cut into p x p patches, each patch becomes a token, and a stack of blocks
refines the token grid ``[B, T, S, dim]`` (S = (H/p)*(W/p) tokens per frame, row-major).
Optionally (``fine_patch``) the pixels are first embedded as smaller patches, merged into the
blocks' tokens and split back after them, with a long skip from the fine tokens to the output
(as U-ViT and the hourglass DiT do), so that the model draws edges finer than its tokens.
One block, each step a residual branch:

    x -> spatial attention -> temporal attention -> cross-attention -> MLP -> x'
         (within a frame)     (across frames,       (to the prompt,
                               same position s)      if there is one)

so attention costs T*S*(S+T) per layer instead of (T*S)^2 for full attention. Positions
come from a fixed 2D sine-cosine embedding of each token's place in its frame (added once)
and from 3D RoPE on q and k (``vdlite.positions.rope_3d``); the timestep (and a pooled
prompt) enters every branch through adaLN-Zero modulation (DiT, Peebles & Xie 2023):

    x = x + gate * branch(LN(x) * (1 + scale) + shift),  (shift, scale, gate) = Linear(SiLU(c)),

with the Linear zero-initialised, so a freshly built block is the identity. A model built
with ``temporal=False`` is an image model run frame by frame; ``inflate`` turns it into a
video model that computes exactly the same thing until its temporal branches learn
(Make-A-Video, AnimateDiff), and ``set_temporal_attention(model, False)`` switches the
temporal branches off again without touching a weight.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from vdlite import attention, backend
from vdlite.conv3d import _check_size
from vdlite.diffusion import timestep_embedding
from vdlite.positions import rope_3d

__all__ = [
    "CrossAttention",
    "FactorizedBlock",
    "Modulated",
    "SelfAttention",
    "VideoDiT",
    "attend",
    "grid_position_embedding",
    "inflate",
    "merge_tokens",
    "patchify",
    "set_temporal_attention",
    "split_tokens",
    "unpatchify",
]

AXES = ("spatial", "temporal")


def attend(q: Tensor, k: Tensor, v: Tensor, axis: str, causal: bool = False,
           window: int | None = None, hw: tuple[int, int] | None = None,
           radius: int = 0) -> Tensor:
    """Self-attention along one axis of the token grid; the one place a backend is chosen.

    q, k, v: ``[B, T, S, heads, D]`` (strided views are fine) -> ``[B, T, S, heads, D]``.
    ``axis="spatial"`` attends over the S tokens of a frame, ``"temporal"`` over the T frames
    at one position (with ``causal``/``window`` masks), or with ``radius`` r > 0 over the
    (2r+1)^2 positions around it in every frame (``neighbourhood_temporal_attention``; needs
    the grid ``hw``). The Triton kernels run it where ``vdlite.backend`` says so (CUDA
    tensors by default; ``VDLITE_BACKEND=torch|triton`` overrides), the reference functions
    of ``vdlite.attention`` otherwise.
    """
    if axis == "spatial":
        return backend.spatial_attention(q, k, v)
    if radius:
        return backend.neighbourhood_attention(q, k, v, hw, radius, causal, window)
    return backend.temporal_attention(q, k, v, causal, window)


def patchify(x: Tensor, p: int) -> Tensor:
    """Cut each frame into non-overlapping p x p patches: ``[B, C, T, H, W] -> [B, T, S, C*p*p]``.

    Token ``s = i*(W/p) + j`` of frame t holds the pixels ``x[:, :, t, i*p:(i+1)*p,
    j*p:(j+1)*p]``, flattened in (channel, row, column) order. H and W must be divisible by p.
    """
    B, C, T, H, W = x.shape
    x = x.reshape(B, C, T, H // p, p, W // p, p)
    x = x.permute(0, 2, 3, 5, 1, 4, 6)  # [B, T, H/p, W/p, C, p, p]
    return x.reshape(B, T, (H // p) * (W // p), C * p * p)


def unpatchify(tokens: Tensor, p: int, hw: tuple[int, int]) -> Tensor:
    """The inverse of ``patchify``: ``[B, T, S, C*p*p] -> [B, C, T, H, W]``, hw = (H/p, W/p)."""
    B, T, S, cpp = tokens.shape
    h, w = hw
    x = tokens.reshape(B, T, h, w, cpp // (p * p), p, p)
    x = x.permute(0, 4, 1, 2, 5, 3, 6)  # [B, C, T, H/p, p, W/p, p]
    return x.reshape(B, cpp // (p * p), T, h * p, w * p)


def merge_tokens(x: Tensor, hw: tuple[int, int], m: int) -> Tensor:
    """Merge each m x m group of neighbouring tokens into one: ``[B, T, (H*m)*(W*m), C] ->
    [B, T, H*W, m*m*C]``, hw = (H, W) the merged grid.

    Merged token ``i*W + j`` holds the fine tokens at rows ``i*m + a`` and columns ``j*m + b``,
    a, b < m, concatenated in (a, b, channel) order -- ``patchify`` applied to a grid of tokens.
    """
    B, T, _, C = x.shape
    H, W = hw
    x = x.reshape(B, T, H, m, W, m, C).transpose(3, 4)  # [B, T, H, W, m, m, C]
    return x.reshape(B, T, H * W, m * m * C)


def split_tokens(x: Tensor, hw: tuple[int, int], m: int) -> Tensor:
    """The inverse of ``merge_tokens``: ``[B, T, H*W, m*m*C] -> [B, T, (H*m)*(W*m), C]``."""
    B, T, _, mmc = x.shape
    H, W = hw
    x = x.reshape(B, T, H, W, m, m, mmc // (m * m)).transpose(3, 4)  # [B, T, H, m, W, m, C]
    return x.reshape(B, T, H * m * W * m, mmc // (m * m))


def grid_position_embedding(hw: tuple[int, int], dim: int, base: float = 10_000.0) -> Tensor:
    """Fixed 2D sine-cosine position of each token of a frame (as in ViT-MAE and DiT): ``[S, dim]``.

    Half the channels encode the row h, half the column w, each as ``[sin(p f_i), cos(p f_i)]``
    with ``f_i = base^(-i / (dim/4))``, i < dim/4. The same for every frame, so it tells a
    token where it is in the frame but not when, and an inflated model stays exact.
    Needs dim divisible by 4.
    """
    H, W = hw
    quarter = dim // 4
    freqs = base ** (-torch.arange(quarter, dtype=torch.float64) / quarter)  # [dim/4]
    rows = torch.arange(H, dtype=torch.float64).repeat_interleave(W)  # [S]: h of token s
    cols = torch.arange(W, dtype=torch.float64).repeat(H)  # [S]: w of token s
    parts = [f(pos[:, None] * freqs) for pos in (rows, cols) for f in (torch.sin, torch.cos)]
    return torch.cat(parts, dim=1)  # [S, dim]


class SelfAttention(nn.Module):
    """Multi-head self-attention over one axis of the grid, with 3D RoPE on q and k.

    ``out = W_o attend(rope(W_q x), rope(W_k x), W_v x)``, heads of size D = dim / heads.
    RoPE is relative, so in spatial attention (one frame) the frame rotation cancels and in
    temporal attention (one position) the row and column rotations cancel; with a
    neighbourhood ``radius`` > 0 (temporal only) they encode the offset to each neighbour.
    x: ``[B, T, S, dim]``, hw = (H, W) of the token grid with H*W = S -> ``[B, T, S, dim]``.
    """

    def __init__(self, dim: int, heads: int, axis: str = "spatial", causal: bool = False,
                 window: int | None = None, radius: int = 0) -> None:
        super().__init__()
        if axis not in AXES:
            raise ValueError(f"axis must be one of {AXES}, got {axis!r}")
        if axis == "spatial" and (causal or window is not None):
            raise ValueError("causal and window apply only to axis='temporal'")
        if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
            raise ValueError(f"radius must be an int >= 0, got radius={radius!r}")
        if axis == "spatial" and radius:
            raise ValueError("radius applies only to axis='temporal'")
        if heads < 1 or dim % heads:
            raise ValueError(f"dim must be divisible by heads, got dim={dim}, heads={heads}")
        if (dim // heads) % 2 or dim // heads < 6:
            raise ValueError(f"head dim D = dim / heads must be even and >= 6 for 3D RoPE, "
                             f"got D={dim // heads} (dim={dim}, heads={heads})")
        self.heads, self.axis, self.causal, self.window = heads, axis, causal, window
        self.radius = radius
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, hw: tuple[int, int],
                offset: tuple[int, int, int] = (0, 0, 0)) -> Tensor:
        """``offset = (t0, h0, w0)``: x is the part of a larger grid that starts at frame t0,
        row h0, column w0 (a shard under context parallelism, ``vdlite.parallel``), and RoPE
        rotates each token by its place in the whole grid."""
        B, T, S, dim = x.shape
        qkv = self.qkv(x).view(B, T, S, 3, self.heads, dim // self.heads)  # [B,T,S,3,h,D]
        q, k, v = qkv.unbind(3)  # views [B, T, S, h, D]
        q, k = rope_3d(q, (T, *hw), offset=offset), rope_3d(k, (T, *hw), offset=offset)
        y = attend(q, k, v, self.axis, self.causal, self.window, hw, self.radius)  # [B,T,S,h,D]
        return self.out(y.reshape(B, T, S, dim))


class CrossAttention(nn.Module):
    """Video tokens attend to a prompt: ``out = W_o attn(W_q x, W_k ctx, W_v ctx)``, no RoPE.

    x: ``[B, T, S, dim]``, context: ``[B, L, context_dim]``, context_mask: bool ``[B, L]``
    (True = real token, False = padding) -> ``[B, T, S, dim]``.
    """

    def __init__(self, dim: int, context_dim: int, heads: int) -> None:
        super().__init__()
        if heads < 1 or dim % heads:
            raise ValueError(f"dim must be divisible by heads, got dim={dim}, heads={heads}")
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor, context_mask: Tensor | None = None) -> Tensor:
        B, T, S, dim = x.shape
        D = dim // self.heads
        q = self.q(x).view(B, T, S, self.heads, D)  # [B, T, S, h, D]
        k, v = self.kv(context).view(B, -1, 2, self.heads, D).unbind(2)  # [B, L, h, D] each
        y = attention.cross_attention(q, k, v, context_mask)  # [B, T, S, h, D]
        return self.out(y.reshape(B, T, S, dim))


class Modulated(nn.Module):
    """A residual branch with adaLN-Zero modulation by the conditioning vector c.

    ``branch(x, c) = gate * f(LN(x) * (1 + scale) + shift)`` with ``(shift, scale, gate) =
    Linear(SiLU(c))`` (LayerNorm without affine). The Linear starts at zero, so gate = 0 and
    the branch adds exactly nothing; f keeps its random init, so the gate still gets a
    gradient (f(...) times the incoming gradient) and the branch can learn.
    x: ``[B, T, S, dim]``, c: ``[B, dim]`` -> ``[B, T, S, dim]``.
    """

    def __init__(self, dim: int, f: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Linear(dim, 3 * dim)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)
        self.f = f

    def forward(self, x: Tensor, c: Tensor, *args: object) -> Tensor:
        shift, scale, gate = self.ada(F.silu(c))[:, None, None].chunk(3, dim=-1)  # [B,1,1,dim]
        return gate * self.f(self.norm(x) * (1 + scale) + shift, *args)


class MLP(nn.Sequential):
    """The per-token feed-forward: ``W_2 GELU(W_1 x)``, hidden size mlp_ratio * dim."""

    def __init__(self, dim: int, mlp_ratio: int) -> None:
        super().__init__(nn.Linear(dim, mlp_ratio * dim), nn.GELU(approximate="tanh"),
                         nn.Linear(mlp_ratio * dim, dim))


class FactorizedBlock(nn.Module):
    """Spatial attention -> temporal attention -> cross-attention -> MLP, each residual.

    ``x += spatial(x, c); x += temporal(x, c); x += cross(LN(x), ctx); x += mlp(x, c)``, the
    self-attention and MLP branches adaLN-modulated (``Modulated``), the cross-attention with a
    plain LN and a zero-initialised output projection. A fresh block is the identity.
    ``temporal=False`` leaves the temporal branch out (an image model's block);
    ``temporal_enabled = False`` skips an existing one (see ``set_temporal_attention``);
    ``radius`` r > 0 lets temporal attention see the (2r+1)^2 positions around each token.
    x: ``[B, T, S, dim]``, c: ``[B, dim]``, hw = (H, W) of the token grid, context
    ``[B, L, context_dim]`` and context_mask bool ``[B, L]`` if ``cross`` -> ``[B, T, S, dim]``.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4, temporal: bool = True,
                 cross: bool = False, context_dim: int | None = None, causal: bool = False,
                 window: int | None = None, radius: int = 0) -> None:
        super().__init__()
        if cross and context_dim is None:
            raise ValueError("cross=True needs context_dim, the width of the prompt embedding")
        self.spatial = Modulated(dim, SelfAttention(dim, heads, "spatial"))
        self.temporal = (Modulated(dim, SelfAttention(dim, heads, "temporal", causal, window,
                                                      radius)) if temporal else None)
        self.temporal_enabled = True
        self.cross = CrossAttention(dim, context_dim, heads) if cross else None
        if cross:
            self.cross_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
            nn.init.zeros_(self.cross.out.weight)
            nn.init.zeros_(self.cross.out.bias)
        self.mlp = Modulated(dim, MLP(dim, mlp_ratio))

    def forward(self, x: Tensor, c: Tensor, hw: tuple[int, int], context: Tensor | None = None,
                context_mask: Tensor | None = None) -> Tensor:
        x = x + self.spatial(x, c, hw)
        if self.temporal is not None and self.temporal_enabled:
            x = x + self.temporal(x, c, hw)
        if self.cross is not None:
            if context is None:
                raise ValueError("this block has cross-attention: pass context [B, L, context_dim]")
            x = x + self.cross(self.cross_norm(x), context, context_mask)
        return x + self.mlp(x, c)


class FinalLayer(nn.Module):
    """adaLN LayerNorm, then a Linear to pixels (zero-initialised unless ``zero=False``).

    ``out = W (LN(x) * (1 + scale) + shift)``: ``[B, T, S, dim] -> [B, T, S, out_dim]``.
    """

    def __init__(self, dim: int, out_dim: int, zero: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Linear(dim, 2 * dim)
        self.linear = nn.Linear(dim, out_dim)
        for p in (*self.ada.parameters(), *(self.linear.parameters() if zero else ())):
            nn.init.zeros_(p)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.ada(F.silu(c))[:, None, None].chunk(2, dim=-1)  # [B, 1, 1, dim]
        return self.linear(self.norm(x) * (1 + scale) + shift)


class FineHead(nn.Module):
    """From fine tokens to pixels, frame by frame: an MLP on each token, then a 3x3 convolution.

    ``z = GELU(W_1 LN([u, f]))`` per token, with u the blocks' output split back to the fine
    grid and f the fine embedding (the long skip); then ``out = conv3x3(z)`` over the fine grid
    of each frame, zero-initialised, so a fresh model predicts 0. The convolution lets
    neighbouring fine tokens agree on an edge that crosses them.
    u, f: ``[B, T, S_f, width]``, hw = (H_f, W_f) -> ``[B, T, S_f, out_dim]``.
    """

    def __init__(self, width: int, out_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.LayerNorm(2 * width), nn.Linear(2 * width, 2 * width),
                                 nn.GELU(approximate="tanh"))
        self.conv = nn.Conv2d(2 * width, out_dim, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, u: Tensor, f: Tensor, hw: tuple[int, int]) -> Tensor:
        B, T, S, _ = u.shape
        z = self.mlp(torch.cat([u, f], dim=-1))  # [B, T, S_f, 2*width]
        z = z.reshape(B * T, *hw, -1).permute(0, 3, 1, 2)  # [B*T, 2*width, H_f, W_f]
        return self.conv(z).permute(0, 2, 3, 1).reshape(B, T, S, -1)  # [B, T, S_f, out_dim]


class VideoDiT(nn.Module):
    """A diffusion transformer on a clip: ``VideoDiT(x_t [B,C,T,H,W], t [B], cond) -> [B,C,T,H,W]``.

    Args:
        in_channels: video channels C. patch_size: p, each frame is cut into p x p patches.
        dim, depth, heads, mlp_ratio: token width, number of blocks, heads (dim/heads even
            and >= 6), MLP hidden size as a multiple of dim.
        temporal: False builds an image model (no temporal attention; frames never mix).
        text_encoder: optional module with ``.dim``, ``forward(tokens [B, L] long) ->
            (emb [B, L, dim] float, mask [B, L] bool)`` and ``null_tokens(batch) -> [batch, L]``;
            adds cross-attention to every block and its masked mean to the conditioning.
        causal, window: masks of the temporal attention (see ``vdlite.attention``).
        temporal_radius: r > 0 lets each temporal query see the (2r+1) x (2r+1) token
            positions around its own in every frame (``neighbourhood_temporal_attention``),
            so it can follow motion; 0 is per-position temporal attention.
        fine_patch: f < p (p divisible by f) embeds f x f patches as ``fine_dim``-wide fine
            tokens, merges each m x m group (m = p / f) into one block token
            (``merge_tokens``), splits the blocks' output back (``split_tokens``) and maps it,
            with the fine tokens as a skip, to pixels through ``FineHead``. The blocks still
            see S = (H/p)*(W/p) tokens a frame; only the cheap per-frame ends work at f.
            None: embed and unpatchify at p directly.
        gradient_checkpointing: in training, keep only each block's input and recompute its
            activations in the backward pass (``torch.utils.checkpoint``): one more forward
            pass for the memory of every activation inside the blocks (lesson 09a). An
            attribute too: ``model.gradient_checkpointing = True`` on a built model.

    ``self.config`` holds the plain constructor arguments, enough to rebuild the network
    (the text encoder is rebuilt by the caller).
    """

    def __init__(self, in_channels: int = 3, patch_size: int = 2, dim: int = 64, depth: int = 4,
                 heads: int = 4, mlp_ratio: int = 4, temporal: bool = True,
                 text_encoder: nn.Module | None = None, causal: bool = False,
                 window: int | None = None, temporal_radius: int = 0,
                 fine_patch: int | None = None, fine_dim: int = 32,
                 gradient_checkpointing: bool = False) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("patch_size", patch_size),
                            ("dim", dim), ("depth", depth), ("heads", heads),
                            ("mlp_ratio", mlp_ratio), ("fine_dim", fine_dim)):
            _check_size("VideoDiT", name, value)
        _check_size("VideoDiT", "temporal_radius", temporal_radius, minimum=0)
        if fine_patch is not None:
            _check_size("VideoDiT", "fine_patch", fine_patch)
        if fine_patch is not None and not (1 <= fine_patch < patch_size
                                           and patch_size % fine_patch == 0):
            raise ValueError(f"fine_patch must divide patch_size={patch_size} and be smaller, "
                             f"got fine_patch={fine_patch}")
        if dim % 4:
            raise ValueError(f"dim must be divisible by 4 (2D position embedding), got {dim}")
        self.config = dict(in_channels=in_channels, patch_size=patch_size, dim=dim, depth=depth,
                           heads=heads, mlp_ratio=mlp_ratio, temporal=temporal, causal=causal,
                           window=window, temporal_radius=temporal_radius,
                           fine_patch=fine_patch, fine_dim=fine_dim,
                           gradient_checkpointing=gradient_checkpointing)
        self.gradient_checkpointing = gradient_checkpointing
        self.in_channels, self.patch_size, self.dim = in_channels, patch_size, dim
        self.fine_patch = fine_patch
        if fine_patch is None:
            self.embed = nn.Linear(in_channels * patch_size**2, dim)
        else:
            merged = (patch_size // fine_patch) ** 2 * fine_dim  # width of m*m fine tokens
            self.fine_embed = nn.Linear(in_channels * fine_patch**2, fine_dim)
            self.embed = nn.Linear(merged, dim)
        self.time_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.text_encoder = text_encoder
        text_dim = None if text_encoder is None else text_encoder.dim
        if text_encoder is not None:
            self.text_pool = nn.Linear(text_dim, dim)
        self.blocks = nn.ModuleList(
            FactorizedBlock(dim, heads, mlp_ratio, temporal, text_encoder is not None, text_dim,
                            causal, window, temporal_radius)
            for _ in range(depth)
        )
        if fine_patch is None:
            self.final = FinalLayer(dim, in_channels * patch_size**2)
        else:  # FineHead's zero convolution makes the fresh model predict 0
            self.final = FinalLayer(dim, merged, zero=False)
            self.fine_head = FineHead(fine_dim, in_channels * fine_patch**2)

    def null_tokens(self, batch: int) -> Tensor:
        """Token ids of the empty prompt, ``[batch, L]`` long (unconditional generation)."""
        if self.text_encoder is None:
            raise ValueError("this model has no text_encoder, so no empty prompt")
        return self.text_encoder.null_tokens(batch)

    def check_input(self, x: Tensor, t: Tensor, cond: Tensor | None) -> None:
        """Raise a clear error for inputs the network cannot process."""
        if x.ndim != 5:
            raise ValueError(f"x must be a video [B, C, T, H, W], got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"x must have {self.in_channels} channels, got {x.shape[1]}")
        p = self.patch_size
        if x.shape[3] % p or x.shape[4] % p:
            raise ValueError(f"H and W must be divisible by patch_size={p}, "
                             f"got {tuple(x.shape[3:])}")
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must have shape [B]=[{x.shape[0]}], got {tuple(t.shape)}")
        if cond is None:
            return
        if self.text_encoder is None:
            raise ValueError("cond was given but this model has no text_encoder")
        if not isinstance(cond, Tensor):
            raise ValueError(f"cond must be token ids [B, L] torch.long, got {type(cond).__name__}")
        if cond.dtype != torch.long or cond.ndim != 2 or cond.shape[0] != x.shape[0]:
            raise ValueError(f"cond must be token ids [B, L] = [{x.shape[0]}, L] of dtype "
                             f"torch.long, got shape {tuple(cond.shape)} dtype {cond.dtype}")

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        self.check_input(x, t, cond)
        B, _, _, H, W = x.shape
        p = self.patch_size
        hw = (H // p, W // p)
        if self.fine_patch is None:
            h = self.embed(patchify(x, p))  # [B, T, S, dim]
        else:
            f, m = self.fine_patch, p // self.fine_patch
            fine = self.fine_embed(patchify(x, f))  # [B, T, S*m*m, fine_dim]
            h = self.embed(merge_tokens(fine, hw, m))  # [B, T, S, dim]
        h = h + grid_position_embedding(hw, self.dim).to(h)  # [S, dim] broadcast over B, T
        c = self.time_mlp(timestep_embedding(t, self.dim).to(x.dtype))  # [B, dim]
        context = mask = None
        if self.text_encoder is not None:
            tokens = cond if cond is not None else self.null_tokens(B).to(x.device)
            context, mask = self.text_encoder(tokens)  # [B, L, text_dim], [B, L]
            weights = mask.to(context.dtype)[..., None]  # [B, L, 1]
            pooled = (context * weights).sum(1) / weights.sum(1).clamp(min=1)  # [B, text_dim]
            c = c + self.text_pool(pooled)
        for block in self.blocks:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                h = checkpoint(block, h, c, hw, context, mask, use_reentrant=False)
            else:
                h = block(h, c, hw, context, mask)
        if self.fine_patch is None:
            return unpatchify(self.final(h, c), p, hw)  # [B, T, S, C*p*p] -> [B, C, T, H, W]
        u = split_tokens(self.final(h, c), hw, m)  # [B, T, S*m*m, fine_dim]
        fine_hw = (H // f, W // f)
        return unpatchify(self.fine_head(u, fine, fine_hw), f, fine_hw)  # [B, C, T, H, W]


def inflate(image_model: VideoDiT) -> VideoDiT:
    """Turn an image model (``temporal=False``) into a video model that starts as it.

    Builds ``VideoDiT(**config, temporal=True)``, copies every image weight into it (each
    image parameter must land in the video model) and keeps the new temporal branches as
    built: modulation zero (gate = 0, so each branch adds exactly zero) and attention weights
    random (so the gate gets a gradient and the branch learns). Until then the video model
    is the image model applied to each frame alone, up to float rounding in RoPE.
    """
    if image_model.config["temporal"]:
        raise ValueError("inflate needs an image model (temporal=False); this one is a video model")
    encoder = image_model.text_encoder
    video = VideoDiT(**{**image_model.config, "temporal": True},
                     text_encoder=None if encoder is None else copy.deepcopy(encoder))
    weight = next(image_model.parameters())
    video.to(device=weight.device, dtype=weight.dtype)
    missing, unexpected = video.load_state_dict(image_model.state_dict(), strict=False)
    new = [k for k in missing if ".temporal." not in k]
    if unexpected or new:
        raise RuntimeError(f"inflate: image weights {unexpected} have no place in the video "
                           f"model, or video weights {new} are not temporal")
    return video


def set_temporal_attention(model: nn.Module, enabled: bool) -> nn.Module:
    """Switch every temporal branch of ``model`` on or off (weights untouched); returns model.

    Off, each ``FactorizedBlock`` skips its temporal attention, so a video model becomes its
    image-model self applied frame by frame -- the "flicker" experiment of lesson 03.
    """
    for module in model.modules():
        if isinstance(module, FactorizedBlock):
            module.temporal_enabled = enabled
    return model
