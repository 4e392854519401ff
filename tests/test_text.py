"""Tests for vdlite.text (captions, tokenizer, text encoder) and the prompt read-back in
vdlite.metrics.

Captions are checked against the ground truth they are written from; the tokenizer by
round trips; the encoder by properties (padding is ignored exactly, word order matters,
gradients reach the embeddings); the read-back by its agreement with captions on real clips.
"""

import pytest
import torch

from vdlite.data import COLOUR_NAMES, SHAPES, MovingSprites
from vdlite.metrics import describe_sprites, prompt_agreement
from vdlite.text import (
    DIRECTIONS,
    MAX_TOKENS,
    TextEncoder,
    Tokenizer,
    caption,
    direction_name,
    path_direction,
)


@pytest.mark.parametrize(
    ("dx", "dy", "name"),
    [(1, 0, "right"), (0, 1, "down"), (-1, 0, "left"), (0, -1, "up"), (3, -1, "right"),
     (-0.2, 2, "down"), (-5, 4.9, "left"), (0.1, -7, "up"),
     (1, 1, "right"), (-1, 1, "left")],  # exact diagonals: Python's round, half to even
)
def test_direction_name_in_image_coordinates(dx, dy, name):
    assert direction_name(dx, dy) == name


def test_path_direction_is_the_least_squares_slope():
    t = torch.arange(7, dtype=torch.float64)
    # mostly leftwards, with a bounce at the end that a first-to-last difference would miss
    x = 20 - 2 * t
    x[-1] = x[-2] + 1.5
    path = torch.stack([x, 0.3 * t], dim=1)
    assert path_direction(path) == "left"
    with pytest.raises(ValueError, match=r"positions must be \[T >= 2, 2\]"):
        path_direction(path[:1])


def test_captions_name_each_present_sprite_from_ground_truth():
    data = MovingSprites(40, frames=9, size=33, sprites=(1, 3), seed=3)
    for i in range(len(data)):
        item = data[i]
        phrases = caption(item).split(" and ")
        assert len(phrases) == int(item["present"].sum())
        for k, phrase in enumerate(phrases):
            article, colour, shape, moving, direction = phrase.split()
            assert article == ("an" if colour[0] in "aeiou" else "a")
            assert colour == COLOUR_NAMES[int(item["colour_ids"][k])]
            assert shape == SHAPES[int(item["shape_ids"][k])]
            assert moving == "moving"
            assert direction == path_direction(item["positions"][:, k])


def test_directions_are_balanced_over_the_dataset():
    """Motion angles are uniform, so each direction should cover about a quarter of clips."""
    data = MovingSprites(400, frames=8, size=32, sprites=1, seed=0)
    counts = {d: 0 for d in DIRECTIONS}
    for i in range(len(data)):
        counts[caption(data[i]).split()[-1]] += 1
    assert all(60 <= c <= 140 for c in counts.values()), counts


def test_tokenizer_round_trip_and_padding():
    tok = Tokenizer()
    prompts = ["a red circle moving left",
               "A Blue square, moving UP and an orange diamond moving right", ""]
    ids = tok.encode(prompts)
    assert ids.shape == (3, MAX_TOKENS) and ids.dtype == torch.long
    assert tok.decode(ids) == ["a red circle moving left",
                               "a blue square moving up and an orange diamond moving right", ""]
    assert ids[2, 0] == tok.null_id and (ids[2, 1:] == tok.pad_id).all()
    assert torch.equal(tok.null_tokens(2), tok.encode(["", ""]))
    assert (ids[0, 5:] == tok.pad_id).all() and (ids[0, :5] != tok.pad_id).all()


def test_tokenizer_unknown_words_and_length():
    tok = Tokenizer()
    assert tok.encode("a purple circle")[0, 1] == tok.unk_id
    with pytest.raises(ValueError, match=r"never saw: \['purple'\]"):
        tok.encode("a purple circle", strict=True)
    with pytest.raises(ValueError, match="more than max_len=17"):
        tok.encode(" ".join(["a"] * 18))
    with pytest.raises(ValueError, match="max_len must be >= 1"):
        Tokenizer(0)


def test_every_caption_fits_and_has_no_unknown_word():
    tok = Tokenizer()
    data = MovingSprites(60, sprites=(1, 3), seed=1)
    ids = tok.encode([caption(data[i]) for i in range(len(data))], strict=True)
    assert not (ids == tok.unk_id).any()


def encoder(seed=0, **kw):
    torch.manual_seed(seed)
    return TextEncoder(dim=24, layers=2, heads=3, **kw).double().eval()


def test_encoder_shapes_and_mask():
    enc = encoder()
    ids = enc.tokenizer.encode(["a red circle moving left", ""])
    emb, mask = enc(ids)
    assert emb.shape == (2, MAX_TOKENS, 24) and mask.shape == (2, MAX_TOKENS)
    assert mask.sum(dim=1).tolist() == [5, 1]
    assert torch.equal(enc.null_tokens(2), enc.tokenizer.null_tokens(2))


def test_encoder_ignores_what_lies_under_padding():
    """Changing the ids at padded positions must not change real tokens' vectors (float64,
    exact up to 1e-12): the padding mask removes them from every attention row."""
    enc = encoder()
    ids = enc.tokenizer.encode(["a green square moving down"])
    emb, mask = enc(ids)
    # put real words where padding is, but keep the mask: feed the same mask by hand
    x = enc.embed(ids) + enc.position
    other = ids.clone()
    other[0, 5:] = enc.tokenizer.ids["red"]
    y = enc.embed(other) + enc.position
    out_x = enc.norm(enc.blocks(x, src_key_padding_mask=~mask))
    out_y = enc.norm(enc.blocks(y, src_key_padding_mask=~mask))
    torch.testing.assert_close(out_x[mask], out_y[mask], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(emb[mask], out_x[mask], rtol=1e-12, atol=1e-12)


def test_encoder_sees_word_order():
    """Which colour goes with which shape is carried by order: swapping the two sprites'
    colours gives a different encoding (a bag of words could not tell them apart)."""
    enc = encoder()
    a, b = enc.tokenizer.encode(["a red circle moving left and a blue square moving up",
                                 "a blue circle moving left and a red square moving up"])
    emb, mask = enc(torch.stack([a, b]))
    assert (emb[0] - emb[1])[mask[0]].abs().max() > 1e-3


def test_encoder_gradients_reach_embeddings():
    enc = encoder()
    enc.train()
    emb, mask = enc(enc.tokenizer.encode(["a white triangle moving right"]))
    emb[mask].pow(2).sum().backward()
    used = enc.tokenizer.encode("a white triangle moving right")[0, :5]
    assert enc.embed.weight.grad[used].abs().sum(dim=1).min() > 0
    assert enc.position.grad[:5].abs().sum() > 0


def test_encoder_rejects_bad_tokens():
    enc = encoder()
    with pytest.raises(ValueError, match="long tensor"):
        enc(torch.zeros(2, MAX_TOKENS))
    with pytest.raises(ValueError, match=r"must be \[B, 17\]"):
        enc(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="at least one token"):
        enc(torch.zeros(1, MAX_TOKENS, dtype=torch.long))


def test_read_back_agrees_with_captions_on_real_clips():
    """On real one-sprite clips the read-back colour must always match, and the direction
    nearly always (rasterised centroids can round a near-diagonal path the other way)."""
    data = MovingSprites(120, frames=8, size=32, sprites=1, seed=5)
    video = torch.stack([data[i]["video"] for i in range(len(data))])
    words = [caption(data[i]).split() for i in range(len(data))]
    score = prompt_agreement(video, [w[1] for w in words], [w[-1] for w in words])
    assert score["colour"] == 1.0
    assert score["direction"] >= 0.95


def test_read_back_of_blank_clips_is_none_and_chance_is_low():
    blank = -torch.ones(2, 3, 6, 16, 16)
    assert describe_sprites(blank) == [{"colour": None, "direction": None}] * 2
    assert prompt_agreement(blank, ["red", "blue"], ["up", "left"]) == {"colour": 0.0,
                                                                         "direction": 0.0}
    with pytest.raises(ValueError, match="one colour and one direction per clip"):
        prompt_agreement(blank, ["red"], ["up", "left"])
