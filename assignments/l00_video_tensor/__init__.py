"""Lesson 00, "A video is a tensor" (lessons/00_video_as_a_tensor.ipynb): four tasks on how a clip
is stored and measured. 00.1 converts 8-bit frames [T, H, W, 3] to a float video [3, T, H, W] in
[-1, 1] and back, exactly; 00.2 folds a straight line into a triangle wave to get the bouncing
positions of `vdlite.data.MovingSprites`; 00.3 computes the flicker and background-change
figures of `vdlite.metrics`; 00.4 counts the tokens of a patchified clip, the score entries
full attention over them needs, and the memory those scores take.
"""
