"""Assignment A2, a video ControlNet (the graduate question for lesson 10): steer a frozen
video denoiser (`vdlite.unet3d.UNet3D`) with a per-frame depth stream so that the 3D structure
of a room stays where the depth says while the camera moves. A2.1 a depth encoder with temporal
layers centred on each frame and a zero-initialised output (`DepthEncoder`); A2.2 the ControlNet,
a trainable copy of the base's encoder joined to it by zero convolutions (`ControlNet3D`); A2.3
the controlled model, equal to the base at initialisation with the base frozen
(`ControlledUNet`); A2.4 the edge-alignment measure (`edge_alignment`); A2.5 trained briefly on
rooms (`vdlite.room`), your ControlNet's samples keep the room's edges where the depth has them,
clearly more than the base model's. The shipped base is `base.pt`, made by
`python -m assignments.a2_video_controlnet.train_base`.
"""
