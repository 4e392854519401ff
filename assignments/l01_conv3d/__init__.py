"""Lesson 01 (lessons/01_conv3d.ipynb, vdlite/conv3d.py): 3D convolution, built by hand.

Task 01.1 writes the definition as loops (`conv3d_loops`); Task 01.2 gathers every window into
one matrix and multiplies it by the weight (`im2col3d`, `conv3d`, with stride, padding and
dilation); Task 01.3 pads time causally, before the first frame only, with zeros or copies of
frame 0 (`causal_time_pad`, `causal_conv3d`); Task 01.4 predicts which input frames each
output frame of a stack of causal and centred temporal convolutions reads
(`dependency_matrix`); Task 01.5 counts the FLOPs of a full 3D and a pseudo-3D convolution
(`conv3d_flops`, `pseudo3d_flops`). The tests check them against F.conv3d, F.pad, autograd
and vdlite.conv3d's cost functions.
"""
