"""Assignment for lesson 09b (lessons/09b_context_parallel.ipynb, vdlite/parallel.py), context
parallelism.

Task 09.1 the frames of each rank, `frame_shards(frames, world)`, uneven counts included;
09.2 the all-to-all re-shard between time shards and space shards on simulated ranks (lists of
tensors), `time_to_space` and `space_to_time`; 09.3 the bytes each rank sends in one re-shard,
`reshard_bytes`. The tests compare with slicing the whole clip and with vdlite.parallel.
"""
