"""Assignment for lesson 04 (lessons/04a_temporal_kernels.ipynb, 04b_flash_spatial.ipynb,
04c_implicit_gemm_conv3d.ipynb; kernels/), Triton kernels for video.

Task 04.1 the naive temporal attention kernel in Triton, `naive_temporal` (one sequence a
program, any strides, causal and window masks); 04.2 one step of the online softmax,
`online_softmax_update`; 04.3 the causal conv's padded address arithmetic, `tap_source`, and
the causal conv3d it gives as one small GEMM per tap, `causal_conv3d`. The tests compare with
vdlite.attention.temporal_attention, a softmax over the whole row and F.conv3d on explicitly
padded input, in float64; the kernel runs in Triton's interpreter where there is no GPU
(the folder's conftest.py sets TRITON_INTERPRET=1 before Triton is imported).
"""
