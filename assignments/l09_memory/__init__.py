"""Assignment for lesson 09a (lessons/09a_memory.ipynb, vdlite/memory.py, vdlite/interleave.py),
memory.

Task 09.1 the bytes autograd saves for backward, counted with saved-tensor hooks, each storage
once, `saved_bytes`; 09.2 the saved bytes of a transformer's MLP block by hand,
`mlp_saved_bytes`; 09.3 the frames that fit in a memory budget, `frames_in_budget`; 09.4 frame
interleaving, every k-th frame of a clip, with the frame count checked, `interleave`. The tests
compare with the hooks' own count of hand-built graphs, the package, and MovingSprites' strided
clips.
"""
