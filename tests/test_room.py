"""The room renderer: depths against hand-computed intersections, depth that reprojects exactly
between the frames of a moving camera, and random clips that are deterministic and well formed."""

import math
import time

import pytest
import torch

from vdlite.room import (
    FACES,
    FAR,
    MOTIONS,
    Camera,
    Room,
    RoomClips,
    camera_rays,
    cast,
    look_at,
    random_camera_path,
    random_room,
    render,
    yaw_pitch,
)


def empty_room(half=(2.0, 2.5, 3.0), boxes=(), spheres=()) -> Room:
    """One room (a batch of 1) in float64, faces coloured by their index."""
    colours = torch.linspace(0.1, 0.9, 6, dtype=torch.float64)[:, None].expand(6, 3)
    boxes = torch.tensor(boxes, dtype=torch.float64).view(1, -1, 2, 3)
    spheres = torch.tensor(spheres, dtype=torch.float64).view(1, -1, 4)
    grey = lambda n: torch.full((1, n, 3), 0.5, dtype=torch.float64)  # noqa: E731
    return Room(torch.tensor([half], dtype=torch.float64), colours[None].clone(),
                torch.tensor([0.5], dtype=torch.float64), boxes, grey(boxes.shape[1]),
                spheres, grey(spheres.shape[1]))


def straight_camera(origins, yaw=0.0, fov=60.0) -> Camera:
    """Poses at `origins` [T, 3], all looking along +z turned by `yaw`, as a batch of 1."""
    o = torch.tensor(origins, dtype=torch.float64)
    r = yaw_pitch(torch.full((len(o),), yaw, dtype=torch.float64),
                  torch.zeros(len(o), dtype=torch.float64))
    return Camera(o[None], r[None], fov)


def pixel_rays(height, width, fov=60.0):
    """(u, v) of every pixel centre, by the pinhole formulas: [H, W] each."""
    f = width / 2 / math.tan(math.radians(fov) / 2)
    u = ((torch.arange(width, dtype=torch.float64) + 0.5 - width / 2) / f).expand(height, width)
    v = ((height / 2 - torch.arange(height, dtype=torch.float64) - 0.5) / f)[:, None]
    return u, v.expand(height, width)


def test_a_camera_facing_the_far_wall_sees_its_distance_and_the_floor_below():
    # camera at (0.3, 1.2, -1) looking along +z in a room [-2, 2] x [0, 2.5] x [-3, 3], on odd
    # 9 x 13 frames: pixel (u, v) hits the far wall z = 3 at depth 4 when the point
    # (0.3 + 4u, 1.2 + 4v) lies on it, and the floor y = 0 at depth 1.2 / -v (v < 0) when
    # its point (0.3 + s u, s) is inside the floor and nearer than the far wall
    h, w = 9, 13
    _, depth = render(empty_room(), straight_camera([[0.3, 1.2, -1.0]]), h, w)
    u, v = pixel_rays(h, w)
    on_far = ((0.3 + 4 * u).abs() < 2) & (1.2 + 4 * v > 0) & (1.2 + 4 * v < 2.5)
    assert on_far.sum() > 40
    torch.testing.assert_close(depth[0, 0, 0][on_far], torch.full_like(u[on_far], 4.0),
                               rtol=0, atol=1e-12)
    s_floor = 1.2 / -v.clamp(max=-1e-9)
    on_floor = (v < 0) & (s_floor < 4) & ((0.3 + s_floor * u).abs() < 2)
    assert on_floor.sum() > 10
    torch.testing.assert_close(depth[0, 0, 0][on_floor], s_floor[on_floor], rtol=1e-12, atol=0)


def test_a_sphere_and_a_box_in_front_give_their_near_surface_on_the_axis():
    # odd 7 x 11 frames: the centre pixel (3, 5) looks exactly along the optical axis
    sphere = [[0.0, 1.2, 2.0, 0.5]]  # its nearest point on the axis: z = 1.5, depth 2.5
    rgb, depth = render(empty_room(spheres=sphere), straight_camera([[0.0, 1.2, -1.0]]), 7, 11)
    assert float(depth[0, 0, 0, 3, 5]) == pytest.approx(2.5, abs=1e-12)
    assert rgb.shape == (1, 3, 1, 7, 11) and depth.shape == (1, 1, 1, 7, 11)
    box = [[[-0.4, 0.0, 0.5], [0.4, 2.0, 1.5]]]  # its face z = 0.5, depth 1.5, hides the sphere
    _, depth = render(empty_room(boxes=box, spheres=sphere), straight_camera([[0.0, 1.2, -1.0]]),
                      7, 11)
    assert float(depth[0, 0, 0, 3, 5]) == pytest.approx(1.5, abs=1e-12)
    # every ray of a sphere behind the camera misses it: the depth is the empty room's
    behind = [[0.0, 1.2, -2.0, 0.5]]
    _, empty = render(empty_room(), straight_camera([[0.0, 1.2, -1.0]]), 7, 11)
    _, with_behind = render(empty_room(spheres=behind), straight_camera([[0.0, 1.2, -1.0]]),
                            7, 11)
    assert torch.equal(with_behind, empty)


def test_a_dolly_towards_the_far_wall_shortens_its_depth_by_the_distance_moved():
    origins = [[0.2, 1.0, -2.0 + 0.3 * k] for k in range(5)]  # 0.3 forward per frame
    _, depth = render(empty_room(), straight_camera(origins), 8, 10)
    u, v = pixel_rays(8, 10)
    for k in range(5):
        s = 5.0 - 0.3 * k  # far wall z = 3
        seen = ((0.2 + s * u).abs() < 2) & (1.0 + s * v > 0) & (1.0 + s * v < 2.5)
        torch.testing.assert_close(depth[0, 0, k][seen], torch.full_like(u[seen], s),
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("motion", MOTIONS)
def test_depth_reprojects_between_frames_of_a_static_room(motion):
    # a pixel of frame 0 at depth s is the world point X = o_0 + s d_0. Seen from frame k,
    # X has z-depth z_k = (R_kᵀ (X - o_k))_z; the ray from o_k through X hits the room at
    # s_k <= z_k (nothing lies beyond a visible point) and exactly at z_k unless something
    # in front occludes X: so s_k <= z_k everywhere and s_k = z_k for most pixels (objects
    # sliding in front of the far wall hide some)
    g = torch.Generator().manual_seed(11)
    room = random_room(g)
    camera = random_camera_path(g, room, 5, motion)
    h, w = 13, 17
    _, depth = render(room, camera, h, w)
    u, v = pixel_rays(h, w)
    local = torch.stack([u, v, torch.ones_like(u)], -1)  # [H, W, 3]
    d0 = local @ camera.rotations[0, 0].T  # [H, W, 3] world directions of frame 0
    points = camera.origins[0, 0] + depth[0, 0, 0][..., None] * d0  # [H, W, 3]
    for k in range(1, 5):
        rel = points - camera.origins[0, k]
        z = rel @ camera.rotations[0, k][:, 2]  # the forward axis: [H, W]
        assert bool((z > 0).all()), "every point of frame 0 must stay in front of frame k"
        s, _ = cast(room, camera.origins[:, k, None, None], (rel / z[..., None])[None])
        assert bool((s[0] <= z * (1 + 1e-9)).all())
        same = (s[0] - z).abs() <= 1e-9 * z
        assert same.float().mean() > 0.7, f"frame {k}: only {same.float().mean():.2f} agree"


def test_look_at_and_yaw_pitch_are_rotations_facing_where_asked():
    o = torch.tensor([[0.5, 1.0, -2.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    target = torch.tensor([[1.0, 1.5, 1.0], [-1.0, 0.2, 2.0]], dtype=torch.float64)
    r = look_at(o, target)
    torch.testing.assert_close(r.transpose(-1, -2) @ r, torch.eye(3, dtype=torch.float64)
                               .expand(2, 3, 3), rtol=0, atol=1e-12)
    assert torch.allclose(torch.linalg.det(r), torch.ones(2, dtype=torch.float64))
    direction = (target - o) / (target - o).norm(dim=-1, keepdim=True)
    torch.testing.assert_close(r[..., 2], direction, rtol=0, atol=1e-12)
    assert bool((r[..., 1, 0].abs() < 1e-12).all()), "the right axis must stay horizontal"
    assert bool((r[..., 1, 1] > 0).all()), "the up axis must point up"
    forward = yaw_pitch(torch.tensor([0.3], dtype=torch.float64),
                        torch.tensor([0.0], dtype=torch.float64))[0, :, 2]
    torch.testing.assert_close(forward, torch.tensor([math.sin(0.3), 0, math.cos(0.3)],
                                                     dtype=torch.float64), rtol=0, atol=1e-12)


def test_random_clips_are_deterministic_well_formed_and_fast():
    ds = RoomClips(40, frames=5, size=19, seed=3)
    batch = ds.batch([4, 17, 4])
    assert batch["video"].shape == (3, 3, 5, 19, 19) and batch["depth"].shape == (3, 1, 5, 19, 19)
    assert torch.equal(batch["video"][0], batch["video"][2])
    item = ds[17]  # one at a time: the same clip as in a batch
    assert torch.equal(item["video"], batch["video"][1])
    assert torch.equal(item["depth"], batch["depth"][1])
    assert batch["video"].abs().max() <= 1 and batch["depth"].min() > 0
    assert batch["depth"].max() <= FAR
    assert not torch.equal(batch["video"][0], batch["video"][1])
    assert len(FACES) == 6
    # every camera stays inside its room, in front of every object (z <= -0.6 < objects)
    for i in range(8):
        room, camera, _ = ds.scene(i)
        half = room.half[0]
        o = camera.origins[0]
        assert bool((o[:, 0].abs() < half[0]).all() & (o[:, 1] > 0).all()
                    & (o[:, 1] < half[1]).all() & (o[:, 2].abs() < half[2]).all())
        assert bool((room.boxes[0, :, 0, 2] >= -0.5).all() & (
            room.spheres[0, :, 2] - room.spheres[0, :, 3] >= -0.5 - 1e-12).all())
        assert bool((o[:, 2] <= -0.6).all())
    big = RoomClips(16, frames=8, size=32, seed=0)
    big.batch(range(8))
    start = time.perf_counter()
    big.batch(range(8, 16))
    assert time.perf_counter() - start < 1.0, "8 clips of 8 frames at 32 x 32 within 1 s"


def test_plain_rooms_drop_the_patterns_and_keep_everything_else():
    patterned = RoomClips(12, frames=3, size=16, seed=4).batch(range(12))
    plain = RoomClips(12, frames=3, size=16, seed=4, patterns=False).batch(range(12))
    assert torch.equal(plain["depth"], patterned["depth"])  # the same rooms and paths
    assert not torch.equal(plain["video"], patterned["video"])
    assert bool((plain["video"] >= patterned["video"] - 1e-6).all())  # patterns only darken
    # a plain floor and far wall seen head on: one colour per face, no checker, no stripes
    room, camera = empty_room(), straight_camera([[0, 1, -2]])
    rgb, depth = render(room, camera, 24, 24, patterns=False)
    _, surface = cast(room, *camera_rays(camera, 24, 24))  # [1, 1, H, W]
    for face in surface.unique():
        values = rgb[0, :, 0].permute(1, 2, 0)[surface[0, 0] == face]
        assert float((values - values[0]).abs().max()) < 1e-12, FACES[int(face)]
    assert torch.equal(depth, render(room, camera, 24, 24)[1])


@pytest.mark.parametrize("kwargs,words", [
    ({"frames": 0}, "frames must be an int >= 1"),
    ({"size": 2.5}, "size must be an int"),
    ({"motions": ("zoom",)}, "motions must be a non-empty subset"),
    ({"fov": 170}, "fov must be in"),
    ({"boxes": -1}, "boxes must be an int >= 0"),
])
def test_bad_arguments_name_the_argument(kwargs, words):
    with pytest.raises(ValueError, match=words):
        RoomClips(**kwargs)


def test_render_refuses_bad_sizes_and_mismatched_batches():
    room = empty_room()
    with pytest.raises(ValueError, match="height must be a positive int"):
        render(room, straight_camera([[0, 1, 0]]), 0, 4)
    two = Camera.cat([straight_camera([[0, 1, 0]])] * 2)
    with pytest.raises(ValueError, match="one room per clip"):
        render(room, two, 4, 4)
    with pytest.raises(ValueError, match="motion must be one of"):
        random_camera_path(torch.Generator().manual_seed(0), room, 3, "zoom")
    with pytest.raises(IndexError, match="out of range"):
        RoomClips(3)[3]
