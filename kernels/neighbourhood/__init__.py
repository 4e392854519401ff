"""Neighbourhood temporal attention: ``lesson.py``, the kernel to read (one position a program,
a loop over its neighbours), and ``tuned.py``, a tile of positions a program with its halo's
keys and values loaded once (``kernels.neighbourhood_attention``)."""
