"""Synthetic rooms seen by a moving camera: RGB clips with exact depth, by ray casting.

A room is an axis-aligned box, x in [-a_x, a_x] (right), y in [0, h] (up), z in [-a_z, a_z]
(forward): a floor with checker tiles, four walls with vertical stripes, a plain ceiling, each
face its own colour, and a few objects inside (axis-aligned boxes standing on the floor, and
spheres). A pinhole camera moves through it (a pan, a dolly or an orbit) and every pixel is
rendered by casting one ray and keeping the nearest surface it hits.

Camera. A pose is an origin o [3] and a rotation R [3, 3] whose columns are the camera's right,
up and forward axes in world coordinates (camera to world). With focal length
f = (W/2) / tan(fov/2) pixels, the ray of pixel (row i, column j), centre (j + ½, i + ½)
measured from the top-left corner, is

    r(s) = o + s d,   d = R (u, v, 1),   u = (j + ½ - W/2) / f,   v = (H/2 - i - ½) / f.

The direction is deliberately *not* normalised: its forward component is 1, so the ray
parameter s of a hit is the hit's distance along the optical axis, the z-depth that depth
maps (and reprojection) use.

Intersections (each returns s, +inf where the ray misses or the hit is behind the camera):

- plane n·p = c:          s = (c - n·o) / (n·d); for the room's six faces, seen from inside,
                          the slabs give the exit s = min_k max((lo_k - o_k)/d_k, (hi_k - o_k)/d_k);
- sphere |p - q|² = ρ²:   a s² + 2 b s + c = 0 with a = d·d, b = d·(o - q), c = |o - q|² - ρ²,
                          nearest root s = (-b - √(b² - a c)) / a when b² >= a c;
- box lo <= p <= hi:      the slab method, s_in = max_k min(t1_k, t2_k),
                          s_out = min_k max(t1_k, t2_k), t1,2 = (lo_k, hi_k - o_k) / d_k;
                          hit when s_in <= s_out and s_in > 0.

Shapes: `render(room, camera, height, width)` -> rgb [B, 3, T, H, W] in [-1, 1] and depth
[B, 1, T, H, W] (z-depth, room units), for a batch of B rooms, each with T camera poses.
`RoomClips` is a Dataset of random rooms and camera paths, one `torch.Generator` per clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

MOTIONS: tuple[str, ...] = ("pan", "dolly", "orbit")
"""Camera paths: "pan" turns in place (yaw), "dolly" moves straight ahead, "orbit" circles a
point of the room while looking at it."""

FAR = 8.0
"""No depth in a `RoomClips` room exceeds this (the longest diagonal is below 8 units);
`depth_to_input` maps [0, FAR] to [-1, 1]."""

LIGHT = (0.35, 0.8, -0.5)  # direction towards the light, world coordinates (normalised below)
FACES = ("floor", "ceiling", "left wall", "right wall", "near wall", "far wall")
"""The room's faces in surface-id order: y = 0, y = h, x = -a_x, x = a_x, z = -a_z, z = a_z."""
FACE_AXIS = (1, 1, 0, 0, 2, 2)  # the axis each face is perpendicular to


@dataclass
class Room:
    """A batch of B rooms. half: [B, 3] (a_x, h, a_z): the room spans [-a_x, a_x] x [0, h] x
    [-a_z, a_z]. face_colours: [B, 6, 3] in [0, 1], in `FACES` order. tile: [B] the floor's
    checker cell and the walls' stripe width. boxes: [B, K, 2, 3] (lo, hi corners) and
    box_colours [B, K, 3]; spheres: [B, S, 4] (centre, radius) and sphere_colours [B, S, 3]."""

    half: Tensor
    face_colours: Tensor
    tile: Tensor
    boxes: Tensor
    box_colours: Tensor
    spheres: Tensor
    sphere_colours: Tensor

    def to(self, dtype: torch.dtype) -> Room:
        return Room(*(getattr(self, k).to(dtype) for k in self.__dataclass_fields__))

    @staticmethod
    def cat(rooms: list[Room]) -> Room:
        return Room(*(torch.cat([getattr(r, k) for r in rooms])
                      for k in Room.__dataclass_fields__))


@dataclass
class Camera:
    """T poses for each of B clips: origins [B, T, 3], rotations [B, T, 3, 3] (columns: right,
    up, forward, in world coordinates) and the horizontal field of view `fov` in degrees."""

    origins: Tensor
    rotations: Tensor
    fov: float = 60.0

    @staticmethod
    def cat(cameras: list[Camera]) -> Camera:
        return Camera(torch.cat([c.origins for c in cameras]),
                      torch.cat([c.rotations for c in cameras]), cameras[0].fov)


def look_at(origin: Tensor, target: Tensor) -> Tensor:
    """The rotation [..., 3, 3] of a camera at `origin` [..., 3] looking at `target` [..., 3],
    upright: forward f = (target - origin) / |target - origin|, right = normalise(ŷ x f) =
    normalise((f_z, 0, -f_x)) with ŷ = (0, 1, 0) the world's up, and up = f x right."""
    forward = target - origin
    forward = forward / forward.norm(dim=-1, keepdim=True)
    world_up = torch.zeros_like(forward)
    world_up[..., 1] = 1
    right = torch.linalg.cross(world_up, forward)
    right = right / right.norm(dim=-1, keepdim=True)
    up = torch.linalg.cross(forward, right)
    return torch.stack([right, up, forward], dim=-1)  # columns


def yaw_pitch(yaw: Tensor, pitch: Tensor) -> Tensor:
    """The rotation [..., 3, 3] of a camera turned by `yaw` (radians, about the world's y axis,
    positive to the right) and tilted by `pitch` (positive up): forward =
    (sin ψ cos θ, sin θ, cos ψ cos θ)."""
    forward = torch.stack([yaw.sin() * pitch.cos(), pitch.sin(), yaw.cos() * pitch.cos()], -1)
    return look_at(torch.zeros_like(forward), forward)


def focal_length(width: int, fov: float) -> float:
    """f = (W/2) / tan(fov/2), in pixels, for a horizontal field of view `fov` in degrees."""
    return width / 2 / math.tan(math.radians(fov) / 2)


def camera_rays(camera: Camera, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Every pixel's ray: origins [B, T, 1, 1, 3] and directions d = R (u, v, 1)
    [B, T, H, W, 3] (forward component 1 in the camera's frame, so s is the z-depth)."""
    f = focal_length(width, camera.fov)
    dtype = camera.origins.dtype
    u = (torch.arange(width, dtype=dtype) + 0.5 - width / 2) / f  # [W]
    v = (height / 2 - torch.arange(height, dtype=dtype) - 0.5) / f  # [H]
    local = torch.stack([u.expand(height, width), v[:, None].expand(height, width),
                         torch.ones(height, width, dtype=dtype)], dim=-1)  # [H, W, 3]
    directions = torch.einsum("btij,hwj->bthwi", camera.rotations, local)  # [B, T, H, W, 3]
    return camera.origins[:, :, None, None, :], directions


def _safe(d: Tensor) -> Tensor:
    """d with exact zeros replaced by a tiny number of the same sign convention (+), so
    (c - o) / d is ±inf-like instead of NaN for rays parallel to a slab."""
    return torch.where(d == 0, torch.full_like(d, 1e-30), d)


def ray_room(o: Tensor, d: Tensor, half: Tensor) -> tuple[Tensor, Tensor]:
    """Where a ray from inside the room leaves it: s = min_k max(t1_k, t2_k), with
    t1,2 = (lo_k - o_k)/d_k, (hi_k - o_k)/d_k, lo = (-a_x, 0, -a_z), hi = (a_x, h, a_z).
    o: [..., 3], d: [..., 3], half: broadcastable to [..., 3]. Returns (s [...], face [...]),
    face the index into `FACES` of the wall that was hit."""
    lo = torch.stack([-half[..., 0], torch.zeros_like(half[..., 1]), -half[..., 2]], -1)
    hi = half
    d = _safe(d)
    t_lo, t_hi = (lo - o) / d, (hi - o) / d  # [..., 3]
    exits = torch.maximum(t_lo, t_hi)  # per axis, the slab the ray leaves through
    s, axis = exits.min(dim=-1)  # [...]
    positive = torch.gather(d, -1, axis[..., None])[..., 0] > 0  # leaves through the hi side
    order = torch.tensor([2, 0, 4], device=o.device)  # axis x -> faces 2/3, y -> 0/1, z -> 4/5
    face = order[axis] + positive.long()
    return s, face


def ray_spheres(o: Tensor, d: Tensor, spheres: Tensor) -> Tensor:
    """Nearest hit s of each ray with each sphere: o, d [..., 3], spheres [..., K, 4]
    (centre, radius) broadcastable -> s [..., K], +inf for a miss or a hit behind the origin.
    Solves a s² + 2 b s + c = 0, a = d·d, b = d·(o - q), c = |o - q|² - ρ²."""
    oq = o[..., None, :] - spheres[..., :3]  # [..., K, 3]
    dk = d[..., None, :]
    a = (dk * dk).sum(-1)
    b = (dk * oq).sum(-1)
    c = (oq * oq).sum(-1) - spheres[..., 3] ** 2
    disc = b * b - a * c
    s = (-b - disc.clamp(min=0).sqrt()) / a
    return torch.where((disc >= 0) & (s > 0), s, torch.full_like(s, math.inf))


def ray_boxes(o: Tensor, d: Tensor, boxes: Tensor) -> Tensor:
    """Nearest hit of each ray with each axis-aligned box, by the slab method: o, d [..., 3],
    boxes [..., K, 2, 3] (lo, hi) -> s [..., K], +inf for a miss or a box behind the origin."""
    dk = _safe(d)[..., None, :]  # [..., 1, 3]
    ok = o[..., None, :]
    t1, t2 = (boxes[..., 0, :] - ok) / dk, (boxes[..., 1, :] - ok) / dk  # [..., K, 3]
    s_in = torch.minimum(t1, t2).max(dim=-1).values  # the last slab entered
    s_out = torch.maximum(t1, t2).min(dim=-1).values  # the first slab left
    hit = (s_in <= s_out) & (s_in > 0)
    return torch.where(hit, s_in, torch.full_like(s_in, math.inf))


def cast(room: Room, o: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
    """The nearest hit of rays o + s d in B rooms: o, d [B, ..., 3] (any dims between) ->
    (s [B, ...], surface [B, ...]), surface the id of what was hit: 0..5 the room's faces in
    `FACES` order, 6..6+K-1 its boxes, then its spheres."""
    per_clip = (slice(None),) + (None,) * (d.ndim - 2)  # room [B, ...] -> [B, 1, .., 1, ...]
    s_room, face = ray_room(o, d, room.half[per_clip])  # [B, ...]
    s_box = ray_boxes(o, d, room.boxes[per_clip])  # [B, ..., K]
    s_sph = ray_spheres(o, d, room.spheres[per_clip])  # [B, ..., S]
    s, which = torch.cat([s_room[..., None], s_box, s_sph], dim=-1).min(dim=-1)
    return s, torch.where(which == 0, face, which + 5)


def surface_normals(room: Room, p: Tensor, surface: Tensor) -> Tensor:
    """Unit normals [B, ..., 3] at hit points p [B, ..., 3] on surfaces `surface` [B, ...]
    (ids as `cast` returns): a face's axis, a box's axis of the face p lies on (the
    coordinate where p is closest to the box's lo or hi), a sphere's (p - q)/ρ; the sign is
    left to the caller (shading uses |n·l|)."""
    per_clip = (slice(None),) + (None,) * (p.ndim - 2)
    k, n_sph = room.boxes.shape[1], room.spheres.shape[1]
    axis = torch.tensor(FACE_AXIS, device=p.device)[surface.clamp(max=5)]
    normal = F.one_hot(axis, 3).to(p.dtype)
    if k:
        box = _pick(room.boxes.flatten(2)[per_clip], surface - 6, k).view(*p.shape[:-1], 2, 3)
        gap = torch.minimum((p - box[..., 0, :]).abs(), (p - box[..., 1, :]).abs())
        on_box = (surface >= 6) & (surface < 6 + k)
        normal = torch.where(on_box[..., None], F.one_hot(gap.argmin(-1), 3).to(p.dtype), normal)
    if n_sph:
        sphere = _pick(room.spheres[per_clip], surface - 6 - k, n_sph)
        radial = (p - sphere[..., :3]) / sphere[..., 3:]
        normal = torch.where((surface >= 6 + k)[..., None], radial, normal)
    return normal


def _pick(table: Tensor, index: Tensor, n: int) -> Tensor:
    """table [B, 1.., n, F] read at index [B, ...] (clamped to 0..n-1) -> [B, ..., F]."""
    index = index.clamp(0, n - 1)[..., None, None]
    shape = (*index.shape[:-2], n, table.shape[-1])
    return torch.gather(table.expand(shape), -2, index.expand(*index.shape[:-1],
                                                              table.shape[-1]))[..., 0, :]


def render(room: Room, camera: Camera, height: int, width: int,
           patterns: bool = True) -> tuple[Tensor, Tensor]:
    """Ray cast B rooms, each from its T poses: rgb [B, 3, T, H, W] in [-1, 1] and z-depth
    [B, 1, T, H, W]. Each pixel takes the nearest of the room's faces, its boxes and its
    spheres (`cast`). Colour = surface colour x pattern x shade: the floor's checker (cells of
    `tile`, ⌊x/tile⌋ + ⌊z/tile⌋ odd) and the walls' stripes (⌊along/tile⌋ odd) darken by 30 %,
    and shade = 0.55 + 0.45 |n·l| for the surface normal n and the light direction l. With
    `patterns` False every surface is plain (no checker, no stripes): the image's edges then
    lie only where surfaces meet or occlude, which is where the depth map has them."""
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"render: {name} must be a positive int, got {value!r}")
    b = camera.origins.shape[0]
    if room.half.shape[0] != b:
        raise ValueError(f"render: room holds {room.half.shape[0]} rooms but the camera "
                         f"{b} clips; expected one room per clip")
    o, d = camera_rays(camera, height, width)  # [B, T, 1, 1, 3], [B, T, H, W, 3]
    s, surface = cast(room, o, d)  # [B, T, H, W]
    p = o + s[..., None] * d  # hit points [B, T, H, W, 3]
    colours = torch.cat([room.face_colours, room.box_colours, room.sphere_colours], 1)
    colour = torch.gather(colours, 1, surface.flatten(1)[..., None].expand(-1, -1, 3))
    colour = colour.view(*s.shape, 3)  # [B, T, H, W, 3]
    light = torch.tensor(LIGHT, dtype=p.dtype)
    shade = 0.55 + 0.45 * (surface_normals(room, p, surface) @ (light / light.norm())).abs()

    cells = torch.floor(p / room.tile[:, None, None, None, None])  # [B, T, H, W, 3]
    checker = (cells[..., 0] + cells[..., 2]).remainder(2)
    along = torch.where(surface < 4, cells[..., 2], cells[..., 0])  # walls x = ±a: along z
    pattern = torch.where(surface == 0, checker, along.remainder(2))
    pattern = torch.where((surface == 1) | (surface > 5), 0, pattern)  # ceiling, objects: plain
    if not patterns:
        pattern = torch.zeros_like(pattern)
    value = colour * (shade * (1 - 0.3 * pattern))[..., None]  # [B, T, H, W, 3] in [0, 1]
    rgb = (2 * value - 1).permute(0, 4, 1, 2, 3)  # [B, 3, T, H, W]
    return rgb.contiguous(), s[:, None].contiguous()


def depth_to_input(depth: Tensor, far: float = FAR) -> Tensor:
    """Depth [B, 1, T, H, W] in room units to a network input in [-1, 1]: 2 min(d/far, 1) - 1."""
    return 2 * (depth / far).clamp(0, 1) - 1


# ---------------------------------------------------------------------------------------------
# Random rooms and camera paths
# ---------------------------------------------------------------------------------------------

FLOOR_COLOURS = torch.tensor([[0.50, 0.36, 0.24], [0.36, 0.38, 0.42], [0.55, 0.50, 0.40]])
WALL_COLOURS = torch.tensor([[0.62, 0.66, 0.74], [0.72, 0.66, 0.55], [0.58, 0.70, 0.60]])
CEILING_COLOUR = torch.tensor([0.92, 0.92, 0.90])
"""Muted colours in [0, 1]: a room draws one floor colour and one colour for all four walls;
every ceiling is near-white. Rooms then differ in their layout and objects more than in
paint, so the depth map (which surface is where) tells a denoiser most of a frame."""

OBJECT_PALETTE = torch.tensor([
    [0.95, 0.20, 0.15], [0.15, 0.75, 0.25], [0.20, 0.35, 0.95], [0.95, 0.85, 0.15],
    [0.10, 0.85, 0.85], [0.90, 0.25, 0.85], [0.98, 0.55, 0.10], [0.95, 0.95, 0.95],
])
"""Saturated colours for objects, in [0, 1], distinct within a room."""


def random_room(g: torch.Generator, boxes: int = 2, spheres: int = 1) -> Room:
    """One room (a batch of 1) drawn from `g`: half-extents a_x, a_z in [2, 3], height in
    [2.2, 3]; `boxes` boxes standing on the floor and `spheres` spheres, all in the far part of
    the room, z >= -0.5, where no camera path goes."""
    u = lambda *shape: torch.rand(shape, generator=g, dtype=torch.float64)  # noqa: E731
    half = torch.stack([2 + u(), 2.2 + 0.8 * u(), 2 + u()]).view(1, 3)
    ax, h, az = half[0].tolist()
    floor = FLOOR_COLOURS[torch.randint(len(FLOOR_COLOURS), (), generator=g)]
    wall = WALL_COLOURS[torch.randint(len(WALL_COLOURS), (), generator=g)]
    face_colours = torch.stack([floor, CEILING_COLOUR, wall, wall, wall, wall])  # FACES order
    tile = 0.35 + 0.3 * u(1)
    obj = torch.randperm(len(OBJECT_PALETTE), generator=g)[: boxes + spheres]
    size = 0.3 + 0.35 * u(boxes, 3)  # half-widths and half-heights
    cx = (ax - 0.3 - size[:, 0]) * (2 * u(boxes) - 1)
    cz = -0.5 + size[:, 2] + (az - 0.8 - 2 * size[:, 2]).clamp(min=0) * u(boxes)
    lo = torch.stack([cx - size[:, 0], torch.zeros(boxes, dtype=torch.float64),
                      cz - size[:, 2]], -1)
    hi = torch.stack([cx + size[:, 0], 2 * size[:, 1], cz + size[:, 2]], -1)
    radius = 0.25 + 0.3 * u(spheres)
    centre = torch.stack([(ax - 0.3 - radius) * (2 * u(spheres) - 1),
                          radius + (h - 2 * radius - 0.2) * u(spheres),
                          -0.5 + radius + (az - 0.8 - 2 * radius).clamp(min=0) * u(spheres)],
                         -1)
    return Room(half, face_colours[None].double(), tile,
                torch.stack([lo, hi], 1)[None], OBJECT_PALETTE[obj[:boxes]][None].double(),
                torch.cat([centre, radius[:, None]], -1)[None],
                OBJECT_PALETTE[obj[boxes:]][None].double())


def random_camera_path(g: torch.Generator, room: Room, frames: int, motion: str,
                       fov: float = 60.0) -> Camera:
    """T = `frames` poses (a batch of 1) of one `motion` in `room` (a batch of 1), drawn from
    `g`. Every pose lies in the near part of the room, z <= -0.6, at least 0.25 from the walls,
    facing the far wall (+z) within about 35 degrees, so it never enters an object.

    pan:   o fixed, yaw ψ(τ) = ψ0 + Δψ τ, Δψ in ±[0.15, 0.45] rad, pitch fixed;
    dolly: R fixed, o(τ) = o0 + L τ forward, L in [0.4, 1.0];
    orbit: o(τ) = q + ρ (-sin θ(τ), 0, -cos θ(τ)), looking at q, θ(τ) = θ0 + Δθ τ;
    with τ = k / (T - 1) for frame k (τ = 0 when T = 1)."""
    if motion not in MOTIONS:
        raise ValueError(f"motion must be one of {MOTIONS}, got {motion!r}")
    u = lambda *shape: torch.rand(shape, generator=g, dtype=torch.float64)  # noqa: E731
    ax, h, az = room.half[0].tolist()
    tau = torch.linspace(0, 1, frames, dtype=torch.float64) if frames > 1 else torch.zeros(1,
                                                                                           dtype=torch.float64)
    eye = 0.9 + 0.6 * u()  # camera height
    sign = 1.0 if float(u()) < 0.5 else -1.0
    if motion == "pan":
        o = torch.stack([(ax - 1.0) * (2 * u() - 1), eye, -az + 0.4 + (az - 1.2) * u()])
        yaw = sign * (0.05 + 0.1 * u()) - sign * (0.15 + 0.3 * u()) * tau
        pitch = (-0.15 + 0.2 * u()).expand(frames)
        origins, rotations = o.expand(frames, 3), yaw_pitch(yaw, pitch)
    elif motion == "dolly":
        length = 0.4 + 0.6 * u()
        o = torch.stack([(ax - 1.2) * (2 * u() - 1), eye, -az + 0.3 + 0.2 * u()])
        rotation = yaw_pitch(0.25 * (2 * u() - 1), -0.15 + 0.2 * u())
        origins = o + length * tau[:, None] * rotation[:, 2]
        rotations = rotation.expand(frames, 3, 3)
    else:
        target = torch.stack([0.6 * (2 * u() - 1) * (ax - 1), 0.5 + 0.5 * u(), 0.5 + 0.5 * u()])
        radius = float(target[2]) + az - 0.5 - 0.4 * u()
        theta = sign * 0.3 * u() - sign * (0.25 + 0.2 * u()) * tau
        origins = target + radius * torch.stack([-theta.sin(), torch.zeros_like(theta),
                                                 -theta.cos()], -1)
        origins[:, 1] = eye
        rotations = look_at(origins, target.expand(frames, 3))
    lo = torch.tensor([-ax + 0.25, 0.25, -az + 0.25], dtype=torch.float64)
    hi = torch.tensor([ax - 0.25, h - 0.25, -0.6], dtype=torch.float64)
    origins = torch.maximum(torch.minimum(origins, hi), lo)
    return Camera(origins[None].contiguous(), rotations[None].contiguous(), fov)


class RoomClips(Dataset):
    """Random rooms seen along random camera paths, rendered on the fly with exact depth.

    Clip i draws its room and path from its own generator, seeded from (seed, i), so it is the
    same whatever order clips are asked for. Items are dicts:
        video      [3, T, H, W] float32 in [-1, 1]
        depth      [1, T, H, W] float32, z-depth in room units (at most `FAR`)
        origins    [T, 3] and rotations [T, 3, 3] float64: the camera's poses (see `Camera`)
        motion     int, index into `motions`
    `batch(indices)` renders a whole batch in one vectorised call (faster than items one by one).

    Args: num_clips (length), frames (T), size (H = W), motions (a subset of `MOTIONS`, one
    drawn per clip), boxes and spheres (objects per room), fov (degrees), seed, patterns
    (False: plain surfaces, see `render`; the rooms and paths drawn are the same either way).
    """

    def __init__(self, num_clips: int = 1024, frames: int = 8, size: int = 32,
                 motions: tuple[str, ...] = MOTIONS, boxes: int = 2, spheres: int = 1,
                 fov: float = 60.0, seed: int = 0, patterns: bool = True) -> None:
        for name, value, low in (("num_clips", num_clips, 1), ("frames", frames, 1),
                                 ("size", size, 1), ("boxes", boxes, 0),
                                 ("spheres", spheres, 0), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"RoomClips: {name} must be an int >= {low}, got {value!r}")
        motions = (motions,) if isinstance(motions, str) else tuple(motions)
        if not motions or any(m not in MOTIONS for m in motions):
            raise ValueError(f"RoomClips: motions must be a non-empty subset of {MOTIONS}, "
                             f"got {motions!r}")
        if not 10 <= fov <= 120:
            raise ValueError(f"RoomClips: fov must be in [10, 120] degrees, got {fov!r}")
        self.num_clips, self.frames, self.size = num_clips, frames, size
        self.motions, self.boxes, self.spheres = motions, boxes, spheres
        self.fov, self.seed, self.patterns = float(fov), seed, bool(patterns)

    def __len__(self) -> int:
        return self.num_clips

    def scene(self, index: int) -> tuple[Room, Camera, int]:
        """Clip `index`'s room, camera path and motion id (batches of 1, float64)."""
        index = int(index)
        if not -self.num_clips <= index < self.num_clips:
            raise IndexError(f"clip {index} out of range for {self.num_clips} clips")
        g = torch.Generator().manual_seed((self.seed * 0x9E3779B9 + index % self.num_clips)
                                          % 2**32)
        room = random_room(g, self.boxes, self.spheres)
        motion = int(torch.randint(len(self.motions), (), generator=g))
        camera = random_camera_path(g, room, self.frames, self.motions[motion], self.fov)
        return room, camera, motion

    def batch(self, indices) -> dict[str, Tensor]:
        """Clips `indices` as one batch: each item's [...] becomes [B, ...], rendered at once."""
        scenes = [self.scene(i) for i in indices]
        room = Room.cat([s[0] for s in scenes])
        camera = Camera.cat([s[1] for s in scenes])
        rgb, depth = render(room, camera, self.size, self.size, self.patterns)
        return {"video": rgb.float(), "depth": depth.float(), "origins": camera.origins,
                "rotations": camera.rotations,
                "motion": torch.tensor([s[2] for s in scenes])}

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {k: v[0] for k, v in self.batch([index]).items()}
