"""Assignment for lessons 08a and 08b (lessons/08a_latent_splicing.ipynb,
lessons/08b_object_permanence.ipynb, vdlite/long_video.py), long videos.

Task 08.1 the chunk schedule of latent splicing, `chunk_starts`, tail covered for every length;
08.2 replacement conditioning, `replace_known` (known frames noised to the current level);
08.3 the number of query-key pairs of sliding-window temporal attention, `window_pairs`.
The tests compare with vdlite.long_video, vdlite.diffusion and vdlite.attention.temporal_mask.
"""
