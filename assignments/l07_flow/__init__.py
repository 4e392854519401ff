"""Assignment for lesson 07a (lessons/07a_optical_flow.ipynb, vdlite/flow.py), optical flow.

Task 07.1 bilinear warping by hand, `warp(b, flow)`, with no grid_sample; 07.2 one level of
coarse-to-fine Horn–Schunck, `horn_schunck_level` (re-warps, a 2×2 solve per pixel summed over
colour channels, Jacobi iterations); 07.3 the forward–backward occlusion check, `occlusion`;
07.4 the warping error of Lai et al. 2018 over the pixels that pass the check,
`warping_error`. The tests compare with F.grid_sample, autograd and vdlite's flow and metrics.
"""
