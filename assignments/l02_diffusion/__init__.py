"""Lesson 02 (`lessons/02_unet3d_diffusion.ipynb`), the diffusion maths around the 3D U-Net:
Task 02.1 the forward process `q_sample`, Task 02.2 the v-parameterisation (`v_target`,
`v_to_x0_eps`), Task 02.3 the DDPM posterior q(x_{t-1} | x_t, x_0) (`posterior`), Task 02.4 one
deterministic DDIM step (`ddim_step`) and Task 02.5 the training loss of one batch
(`diffusion_loss`), each written from the formulas on top of `vdlite.diffusion.NoiseSchedule`.
"""
