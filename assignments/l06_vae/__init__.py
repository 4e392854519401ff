"""Assignment for lesson 06a (lessons/06a_causal_vae.ipynb, vdlite/vae.py), the temporal-causal VAE.

Task 06.1 the frame rule, 1 + f·k frames -> 1 + k latent frames, with an error that names the
nearest valid counts (`latent_frames`); 06.2 causal padding in time, zeros or copies of frame 0,
and a causal conv with a stride in time (`causal_pad`, `causal_conv3d`); 06.3 the same conv run
on a clip chunk by chunk with a cache, equal to the whole clip (`CausalConvStream`); 06.4 the KL
of the encoder's diagonal Gaussian from N(0, I) (`gaussian_kl`); 06.5 which input frames each
output frame of a stack of strided causal convs reads (`latent_dependency`). The tests check
them against vdlite's CausalConv3d, StreamingCausalConv3d and nearest_valid_frames,
torch.distributions, and autograd.
"""
