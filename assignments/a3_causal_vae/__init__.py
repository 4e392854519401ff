"""Graduate question A3 (lessons 06a and 06b, vdlite/vae.py): why a per-frame 2D VAE makes
video flicker, where chunked encoding leaves seams, and why a video VAE is causal in time.

Task A3.1 a flicker measure, `error_change` and `flicker_ratio` (the von Neumann ratio of the
reconstruction error: about 1 for an error independent from frame to frame); A3.2 that measure
on a per-frame and a causal VAE reconstructing a still clip with sensor noise,
`reconstruction_flicker`; A3.3 chunked encoding under the 1 + 4k rule, `chunk_plan`,
`encode_in_chunks` with and without the causal cache, `damaged_latents` (which latent frames a
restart spoils) and `seam_score`; A3.4 an image as a one-frame clip, `image_latent`, and
`latest_frame_read`, which exposes an encoder that reads the future. The tests compare with
vdlite's VAEs in float64, one-frame perturbations, autocovariances and hand-worked reaches.
"""
