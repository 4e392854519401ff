"""Assignment for lesson 03 (lessons/03_attention.ipynb), attention across space and time.

On the token layout ``[B, T, S, heads, D]``: 03.1 spatial attention over the S tokens of each
frame; 03.2 the temporal mask (causal and/or a window of w frames) and temporal attention over
the T frames at each position; 03.3 full 3D attention over all T*S tokens; 03.4 the exact count
of attention score pairs for full, factorised and windowed attention, clip edges included;
03.5 all of it on the strided q, k, v views of one fused ``[B, T, S, 3, heads, D]`` tensor.
"""
