"""Prompts with no downloads: captions from the sprites' ground truth, a word tokenizer, and a
small text encoder trained together with the denoiser (lesson 05).

A text-to-video model needs (1) captions for its training clips, (2) a way to turn words into
numbers and (3) a network that turns those numbers into vectors the denoiser can attend to.
Real systems take (1) from people or a captioning model and (3) from a pretrained T5 or CLIP.
The course's synthetic clips carry their own ground truth, so a caption can be *written* from
it, the vocabulary is known in advance, and the encoder is small enough to train from scratch
along with the denoiser:

    clip -> "a red circle moving left" -> [3, 7, 15, 6, 21, 0, ...] -> TextEncoder -> [L, dim]

Directions are in image coordinates: x grows to the right, y grows downwards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from vdlite.vocabulary import COLOUR_NAMES, DIRECTIONS, SHAPES, direction_name, path_direction

__all__ = [
    "DIRECTIONS",
    "MAX_TOKENS",
    "TextEncoder",
    "Tokenizer",
    "caption",
    "direction_name",
    "path_direction",
]

PAD, NULL, UNK = "<pad>", "<null>", "<unk>"
SPECIALS = (PAD, NULL, UNK)
WORDS = ("a", "an", "and", "moving", *COLOUR_NAMES, *SHAPES, *DIRECTIONS)
MAX_TOKENS = 17
"""Tokens in the longest caption: three sprites, 5 words each, joined by two 'and's."""


def caption(item: dict[str, Tensor]) -> str:
    """Describe a `MovingSprites` clip from its ground truth: "a red circle moving left".

    One phrase "a {colour} {shape} moving {direction}" ("an" before a vowel) per present
    sprite, in the dataset's drawing order, joined by "and". The direction is
    `path_direction` of the sprite's centres.
    """
    phrases = []
    for k in torch.nonzero(item["present"]).flatten().tolist():
        colour = COLOUR_NAMES[int(item["colour_ids"][k])]
        shape = SHAPES[int(item["shape_ids"][k])]
        direction = path_direction(item["positions"][:, k])
        article = "an" if colour[0] in "aeiou" else "a"
        phrases.append(f"{article} {colour} {shape} moving {direction}")
    return " and ".join(phrases)


class Tokenizer:
    """Words to ids and back, over the fixed vocabulary of the captions.

    ids: 0 = <pad> (ignored by attention), 1 = <null> (the empty prompt, which classifier-free
    guidance trains on), 2 = <unk>, then the words of WORDS. Text is lower-cased and split on
    anything that is not a letter. ``encode`` pads every prompt to ``max_len`` tokens.
    """

    def __init__(self, max_len: int = MAX_TOKENS) -> None:
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len!r}")
        self.max_len = max_len
        self.vocab = (*SPECIALS, *WORDS)
        self.ids = {w: i for i, w in enumerate(self.vocab)}
        self.pad_id, self.null_id, self.unk_id = (self.ids[s] for s in SPECIALS)

    def __len__(self) -> int:
        return len(self.vocab)

    def words(self, text: str) -> list[str]:
        return re.findall(r"[a-z]+", text.lower())

    def encode(self, texts: str | Sequence[str], strict: bool = False) -> Tensor:
        """Prompts -> long ``[B, max_len]``; "" becomes the null prompt ``[<null>, <pad>, ...]``.

        strict=True raises ValueError for words outside the vocabulary (naming them); otherwise
        they become <unk>. Prompts longer than max_len raise ValueError.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        rows = []
        for text in texts:
            words = self.words(text)
            unknown = [w for w in words if w not in self.ids]
            if strict and unknown:
                raise ValueError(
                    f"prompt {text!r} has words the model never saw: {unknown}; "
                    f"known words: {', '.join(WORDS)}"
                )
            if len(words) > self.max_len:
                raise ValueError(
                    f"prompt {text!r} has {len(words)} words, more than max_len={self.max_len}"
                )
            ids = [self.ids.get(w, self.unk_id) for w in words] or [self.null_id]
            rows.append(ids + [self.pad_id] * (self.max_len - len(ids)))
        return torch.tensor(rows, dtype=torch.long).reshape(len(rows), self.max_len)

    def decode(self, tokens: Tensor) -> list[str]:
        """``[B, L]`` ids -> prompts, dropping padding; the null prompt decodes to ""."""
        return [" ".join(self.vocab[i] for i in row.tolist() if i not in (self.pad_id,
                                                                          self.null_id))
                for row in tokens.reshape(-1, tokens.shape[-1])]

    def null_tokens(self, batch: int = 1) -> Tensor:
        """The empty prompt, ``[batch, max_len]``."""
        return self.encode([""] * batch)


class TextEncoder(nn.Module):
    """Token ids ``[B, L]`` -> vectors ``[B, L, dim]`` and a mask ``[B, L]`` (True = real token).

    A small pre-norm Transformer encoder: token embedding + learned position embedding, then
    ``layers`` blocks of self-attention (padding masked out) and an MLP, then a LayerNorm.
    Self-attention lets "red" bind to the sprite it describes when a caption names several.
    It starts random and is trained with the denoiser through the denoiser's loss alone.
    """

    def __init__(self, dim: int = 64, layers: int = 2, heads: int = 4,
                 max_len: int = MAX_TOKENS) -> None:
        super().__init__()
        self.tokenizer = Tokenizer(max_len)
        self.dim = dim
        self.config = dict(dim=dim, layers=layers, heads=heads, max_len=max_len)
        self.embed = nn.Embedding(len(self.tokenizer), dim)
        self.position = nn.Parameter(torch.randn(max_len, dim) * 0.02)  # [L, dim]
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def null_tokens(self, batch: int = 1) -> Tensor:
        """The empty prompt's ids ``[batch, L]``, on this encoder's device."""
        return self.tokenizer.null_tokens(batch).to(self.position.device)

    def forward(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        L = self.tokenizer.max_len
        if not isinstance(tokens, Tensor) or tokens.dtype != torch.long or tokens.dim() != 2:
            raise ValueError(f"tokens must be a long tensor [B, {L}], got "
                             f"{getattr(tokens, 'dtype', type(tokens).__name__)} "
                             f"{tuple(getattr(tokens, 'shape', ()))}")
        if tokens.shape[1] != L:
            raise ValueError(f"tokens must be [B, {L}], got {tuple(tokens.shape)}")
        mask = tokens != self.tokenizer.pad_id  # [B, L]
        if not mask.any(dim=1).all():
            raise ValueError("every prompt needs at least one token; use the null prompt "
                             "(Tokenizer.null_tokens) for 'no prompt'")
        x = self.embed(tokens) + self.position  # [B, L, dim]
        x = self.blocks(x, src_key_padding_mask=~mask)  # True in the padding mask = ignore
        return self.norm(x), mask
