"""Bad inputs are named: unreadable videos and frames are skipped with a warning (an error only
when nothing usable remains), and the consistency figures reject clips that are not float
[B, 3, T, H, W] in [-1, 1] (to within 1e-3) with finite values."""

import numpy as np
import pytest
import torch
from PIL import Image

from vdlite import metrics
from vdlite.data import (
    MovingSprites,
    SkippedVideoWarning,
    VideoFolder,
    read_video,
    to_uint8,
    write_gif,
    write_mp4,
)
from vdlite.metrics import compare_clips, consistency_report

# ---------------------------------------------------------------------------------------------
# Videos
# ---------------------------------------------------------------------------------------------


def clip(frames: int, index: int = 0) -> torch.Tensor:
    return MovingSprites(frames=frames, size=16, seed=1)[index]["video"]


def write_frames(folder, video: torch.Tensor) -> None:
    folder.mkdir(parents=True)
    for t, frame in enumerate(to_uint8(video)):
        Image.fromarray(frame).save(folder / f"{t:04d}.png")


def write_good(folder) -> None:
    """Two good videos: a 12-frame GIF and a 9-frame MP4 (4-frame clips: 3 + 2)."""
    write_gif(clip(12, 0), folder / "good.gif")
    write_mp4(clip(9, 1), folder / "good.mp4")


def write_corrupt(path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(3000))


def write_truncated(path) -> None:
    write_mp4(clip(12, 2), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def skipped(record) -> list[str]:
    """The messages of the SkippedVideoWarnings in a pytest.warns record."""
    return [str(w.message) for w in record if w.category is SkippedVideoWarning]


CANNOT_DECODE = r": cannot decode: OSError: \S.*"  # imageio-ffmpeg's error, on one line


def test_corrupt_and_truncated_videos_are_skipped_and_the_rest_kept(tmp_path):
    write_good(tmp_path / "good")
    expected = len(VideoFolder(tmp_path / "good", frames=4, size=16))
    write_good(tmp_path / "mixed")
    write_corrupt(tmp_path / "mixed" / "corrupt.mp4")
    write_truncated(tmp_path / "mixed" / "truncated.mp4")
    with pytest.warns(SkippedVideoWarning, match=r"skipped \S*corrupt\.mp4" + CANNOT_DECODE), \
            pytest.warns(SkippedVideoWarning, match=r"skipped \S*truncated\.mp4" + CANNOT_DECODE,
                         ) as record:
        data = VideoFolder(tmp_path / "mixed", frames=4, size=16)
    assert len(data) == expected == 5
    assert [p.name for p in data.paths] == ["good.gif", "good.mp4"]
    assert [p.name for p, _ in data.skipped] == ["corrupt.mp4", "truncated.mp4"]
    messages = skipped(record)
    assert len(messages) == 2 and all("\n" not in m for m in messages)


def test_read_video_names_a_bad_file(tmp_path):
    write_corrupt(tmp_path / "corrupt.mp4")
    with pytest.raises(ValueError, match=r"^read_video: \S*corrupt\.mp4" + CANNOT_DECODE) as err:
        read_video(tmp_path / "corrupt.mp4")
    assert "\n" not in str(err.value)


def test_a_folder_of_only_bad_videos_is_an_error_naming_folder_and_files(tmp_path):
    (tmp_path / "bad").mkdir()
    write_corrupt(tmp_path / "bad" / "corrupt.mp4")
    write_truncated(tmp_path / "bad" / "truncated.mp4")
    listed = r"no readable video under \S*bad; skipped corrupt\.mp4: cannot decode: OSError: .+; "
    with pytest.warns(SkippedVideoWarning), pytest.raises(
            ValueError, match=listed + r"truncated\.mp4" + CANNOT_DECODE) as err:
        VideoFolder(tmp_path / "bad", frames=4, size=16)
    assert "\n" not in str(err.value)


def test_a_folder_with_an_unreadable_frame_is_skipped(tmp_path):
    """Random bytes as a frame, and a frame cut to half its bytes: the folder is skipped
    (dropping one frame would make the clip jump)."""
    write_good(tmp_path)
    write_frames(tmp_path / "frames_ok", clip(8, 3))
    write_frames(tmp_path / "frames_random", clip(8, 4))
    write_corrupt(tmp_path / "frames_random" / "0003.png")
    write_frames(tmp_path / "frames_cut", clip(8, 5))
    png = (tmp_path / "frames_cut" / "0005.png").read_bytes()
    (tmp_path / "frames_cut" / "0005.png").write_bytes(png[: len(png) // 2])
    with pytest.warns(SkippedVideoWarning, match=r"frames_random: cannot read frame 0003\.png: "
                                                 r"UnidentifiedImageError"), \
            pytest.warns(SkippedVideoWarning, match=r"frames_cut: cannot read frame 0005\.png: "
                                                    r"OSError: image file is truncated"):
        data = VideoFolder(tmp_path, frames=4, size=16)
    assert [p.name for p in data.paths] == ["good.gif", "good.mp4", "frames_ok"]
    assert len(data) == 5 + 2
    with pytest.raises(ValueError, match=r"frames_random: cannot read frame 0003\.png"):
        read_video(tmp_path / "frames_random")


def test_frames_of_mixed_sizes_are_named(tmp_path):
    """A folder of frames of two sizes is skipped, or an error when it is the only video."""
    write_frames(tmp_path / "mixed", clip(6))
    small = to_uint8(MovingSprites(frames=1, size=8)[0]["video"])[0]  # [8, 8, 3]
    Image.fromarray(small[:, :6]).save(tmp_path / "mixed" / "0006.png")  # 6 wide, 8 high
    sizes = r"mixed: frames have different sizes: 16x16 \(6 frames\), 6x8 \(1 frame: 0006\.png\)"
    with pytest.raises(ValueError, match=sizes):
        read_video(tmp_path / "mixed")
    with pytest.warns(SkippedVideoWarning, match=sizes), pytest.raises(ValueError, match=sizes):
        VideoFolder(tmp_path / "mixed", frames=4, size=16)
    write_good(tmp_path)
    with pytest.warns(SkippedVideoWarning, match=sizes):
        data = VideoFolder(tmp_path, frames=4, size=16)
    assert [p.name for p in data.paths] == ["good.gif", "good.mp4"]


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def good_clips(n: int = 2) -> torch.Tensor:
    return torch.stack([clip(4, i) for i in range(n)])  # [n, 3, 4, 16, 16]


def with_nan(clips: torch.Tensor) -> torch.Tensor:
    clips = clips.clone()
    clips[1, 0, 2, 3, 3] = float("nan")
    return clips


BAD = {  # name: (clips, error type, message pattern)
    "uint8": (lambda c: ((c + 1) * 127.5).round().to(torch.uint8), ValueError,
              r"must be floating point.*torch\.uint8.*convert.*\[-1, 1\]"),
    "0..255": (lambda c: (c + 1) * 127.5, ValueError,
               r"must be in \[-1, 1\] \(to within 0\.001\), found values in \[0, 255\]"),
    "NaN": (with_nan, ValueError, r"must be finite: 1 of 2 clips contain NaN or inf"),
    "empty batch": (lambda c: c[:0], ValueError, r"holds no clips"),
    "one frame": (lambda c: c[:, :, :1], ValueError, r"must have at least 2 frames, got T=1"),
    "empty frames": (lambda c: c[:, :, :, :0], ValueError, r"has empty frames \(H=0, W=16\)"),
    "channels": (lambda c: c[:, :1], ValueError,
                 r"must be clips \[B, 3, T, H, W\], got shape \(2, 1, 4"),
    "not a tensor": (lambda c: c.numpy(), TypeError, r"must be a torch\.Tensor.*ndarray"),
}


@pytest.mark.parametrize("case", BAD)
def test_consistency_report_names_bad_clips(case):
    make, error, pattern = BAD[case]
    with pytest.raises(error, match=r"^video " + pattern):
        consistency_report(make(good_clips()))


@pytest.mark.parametrize("case", BAD)
@pytest.mark.parametrize("bad", ["a", "b"])
def test_compare_clips_names_the_bad_argument(case, bad):
    make, error, pattern = BAD[case]
    clips = {"a": good_clips(), "b": good_clips()}
    clips[bad] = make(clips[bad])
    with pytest.raises(error, match=rf"^{bad} " + pattern) as err:
        compare_clips(clips["a"], clips["b"], n_boot=10)
    assert "\n" not in str(err.value)


def test_every_public_figure_checks_its_clips():
    figures = [metrics.sprite_masks, metrics.background_change, metrics.colour_drift,
               metrics.size_drift, metrics.path_residual, metrics.complete_path_residual,
               metrics.missing_frames, metrics.flicker, metrics.consistency_report,
               metrics.per_clip_figures, metrics.describe_sprites,
               lambda v: metrics.prompt_agreement(v, ["red"] * 2, ["up"] * 2)]
    for figure in figures:
        for case in ("uint8", "0..255", "NaN"):
            make, error, pattern = BAD[case]
            with pytest.raises(error, match=pattern):
                figure(make(good_clips()))


def test_clips_at_the_tolerance_edge_pass():
    clips = good_clips()
    clips[0, :, :, 0, 0] = 1.0
    clips[1, :, :, 0, 0] = -1.0
    clips[0, 0, 0, 0, 1] = 1 + 1e-4
    clips[1, 0, 0, 0, 1] = -1 - 1e-4
    assert set(consistency_report(clips)) >= {"flicker", "path_residual"}
    assert compare_clips(clips, good_clips(), n_boot=10)["flicker"]["pairs"] == 2
    clips[0, 0, 0, 0, 1] = 1 + 2e-3
    with pytest.raises(ValueError, match=r"found values in \[-1\.0001, 1\.002\]"):
        consistency_report(clips)


# ---------------------------------------------------------------------------------------------
# The same through the command line: one line each
# ---------------------------------------------------------------------------------------------


def test_cli_train_skips_a_corrupt_video_with_one_warning_line(tmp_path, capsys):
    from vdlite.cli import main

    write_good(tmp_path / "videos")
    write_corrupt(tmp_path / "videos" / "corrupt.mp4")
    assert main(["train", "--data", str(tmp_path / "videos"), "--steps", "1", "--batch", "2",
                 "--frames", "4", "--size", "16", "--out", str(tmp_path / "m"),
                 "--no-progress"]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warned) == 1 and warned[0].startswith("vdlite: warning: VideoFolder: skipped ")
    assert "corrupt.mp4: cannot decode" in warned[0]
    write_corrupt(tmp_path / "videos" / "good.gif")
    write_corrupt(tmp_path / "videos" / "good.mp4")
    assert main(["train", "--data", str(tmp_path / "videos"), "--steps", "1", "--frames", "4",
                 "--size", "16", "--out", str(tmp_path / "m2"), "--no-progress"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("vdlite: error: VideoFolder: no readable video under")


def test_cli_compare_rejects_clips_out_of_range_and_nan(tmp_path, capsys):
    from vdlite.cli import main

    good = good_clips()
    torch.save(good, tmp_path / "good.pt")
    torch.save((good + 1) * 127.5, tmp_path / "levels.pt")
    nan = good.clone()
    nan[1, 0, 0, 0, 0] = float("nan")
    torch.save(nan, tmp_path / "nan.pt")
    for name, text in [("levels.pt", "a must be in [-1, 1] (to within 0.001), found values in"),
                       ("nan.pt", "a must be finite: 1 of 2 clips contain NaN or inf")]:
        assert main(["compare", str(tmp_path / name), str(tmp_path / "good.pt"),
                     "--boot", "10"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("vdlite: error: ") and text in err
