"""Lesson 05, the factorized space-time transformer (lessons/05a_space_time_block.ipynb for
05.1-05.3, lessons/05b_inflation_prompts_guidance.ipynb for 05.4): four tasks on the pieces of a
video DiT. 05.1 cuts a clip [B, C, T, H, W] into patch tokens [B, T, S, C*p*p] and back
(`patchify`, `unpatchify`); 05.2 writes adaLN-Zero, the modulation LN(x) * (1 + scale) + shift
and the gated residual x + gate * f(...) whose zero-initialised Linear makes a fresh branch the
identity (`modulate`, `AdaLNZero`); 05.3 writes RoPE, 1D (`rotate`) and 3D over a token's frame,
row and column (`rope_3d`), whose scores depend only on offsets; 05.4 inflates an image block
into a video block with a temporal attention branch whose zero-initialised output projection
keeps it equal to the image block frame by frame (`TemporalAttention`, `InflatedBlock`).
"""
