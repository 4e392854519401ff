"""vdlite: video diffusion from scratch, one module per idea.

Modules: `data` (moving sprites, video files), `conv3d` (3D convolution as an implicit
GEMM, causal and pseudo-3D variants), `unet3d` (the 3D U-Net denoiser), `diffusion`
(schedules, losses, DDPM/DDIM samplers), `attention` (reference spatial, temporal, full
and cross attention on the [B, T, S, heads, D] layout), `transformer`, `positions`, `text`
(the video DiT, its positions and prompts), `vae`, `latent`, `seams` (the causal VAE and
latent diffusion), `flow` (optical flow), `metrics` (temporal consistency, the warping error),
`features` (the course's clip features, temporal FID and an FVD-style distance),
`temporal_loss`, `flicker` (Scenario 1), and `train` and `demo` (the loops behind the
`vdlite` command).
"""

from vdlite import conv3d  # the module, callable as its function conv3d (see vdlite/conv3d.py)
from vdlite.conv3d import CausalConv3d, Conv3d, PseudoConv3d

__all__ = ["conv3d", "Conv3d", "CausalConv3d", "PseudoConv3d"]
__version__ = "0.1.0"
