"""vdlite: video diffusion from scratch, one module per idea.

Modules: `data` (moving sprites with ground truth), `vocabulary` (their shapes, colours and
directions), `video_io` (your footage in, GIFs and MP4s out), `conv3d` (3D convolution as an
implicit GEMM, causal and pseudo-3D variants), `backend` (the kernels or the references),
`unet3d` (the 3D U-Net denoiser), `diffusion` (schedules, the timestep embedding, losses,
DDPM/DDIM samplers), `attention` (reference spatial, temporal, full and cross attention on the
[B, T, S, heads, D] layout), `transformer`, `positions`, `text` (the video DiT, its positions
and prompts), `cost` (what attention costs), `vae`, `latent`, `seams` (the causal VAE and latent
diffusion), `flow` (optical flow), `metrics` (temporal consistency, the warping error),
`features` (the course's clip features, temporal FID and an FVD-style distance),
`temporal_loss`, `flicker` (Scenario 1), `room` and `controlnet` (rendered rooms with depth, and
a video ControlNet that follows it), `checkpoint` (safe saves and loads), `viz`, `precision`
(bf16 against fp32 training), and `train`, `demo` and `cli` (the loops behind the `vdlite`
command).
"""

from vdlite import conv3d  # the module, callable as its function conv3d (see vdlite/conv3d.py)
from vdlite.conv3d import CausalConv3d, Conv3d, PseudoConv3d

__all__ = ["conv3d", "Conv3d", "CausalConv3d", "PseudoConv3d"]
__version__ = "0.1.0"
