"""Graduate assignment a1 (kinematic attention): what temporal attention must look like for an
object moving at constant velocity v.

Task A1.1 the ideal weights of full space-time attention, a Gaussian around the sheared line
(x + v_x (t'-t), y + v_y (t'-t)), `ideal_weights`; A1.2 the frames in which a fixed patch
overlaps the moving object, about (P + L) / |v| of them, `overlap_interval` and
`overlap_frames`; A1.3 temporal attention whose keys and values are read along the motion,
`shifted_temporal_attention`; A1.4 a probe of where a small trained space-time attention model
puts its weight, `trajectory_mass` and `probe`. The tests compare with loop oracles,
rasterisation, masked full attention in float64, vdlite's temporal attention, and the trained
model in probe_model.pt.
"""
