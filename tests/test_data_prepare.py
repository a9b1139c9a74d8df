"""ganforge prepare: a folder or zip decoded once into images.u8 + meta.json, known pixels in,
the same pixels out; crops, labels, bad files listed; damaged files refused cleanly."""

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from ganforge.data import load_dataset
from ganforge.data.prepare import prepare
from ganforge.errors import UserError


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def quiet(msg):
    pass


def rgb(seed, h=6, w=5):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_round_trip_keeps_pixels_order_and_class_labels(tmp_path):
    images = {"cat/b.png": rgb(0), "cat/a.png": rgb(1), "dog/x.png": rgb(2), "ant/z.png": rgb(3)}
    for name, a in images.items():
        save(tmp_path / "src" / name, a)
    lines = []
    dst = prepare(tmp_path / "src", tmp_path / "out", log=lines.append)
    ds = load_dataset(str(dst))
    order = sorted(images)                     # ant/z, cat/a, cat/b, dog/x
    want = np.stack([images[n].transpose(2, 0, 1) for n in order])
    assert ds.samples.kind == "pixels" and ds.name == "prepared" and ds.kind == "image"
    assert np.array_equal(ds.samples.levels().numpy(), want)
    meta = json.loads((dst / "meta.json").read_text())
    assert meta["classes"] == ["ant", "cat", "dog"] and meta["shape"] == [4, 3, 6, 5]
    assert ds.labels.tolist() == [0, 1, 1, 2]
    assert meta["skipped"] == [] and meta["source_files"] == 4 and meta["resolution"] is None
    assert (dst / "images.u8").stat().st_size == want.nbytes
    assert any("decoding: 4/4 (100%)" in line for line in lines)   # plain progress lines
    assert load_dataset(str(dst), limit=3).samples.shape == (3, 3, 6, 5)


def test_flat_folder_has_no_labels_and_grayscale_stays_one_channel(tmp_path):
    gray = np.random.default_rng(0).integers(0, 256, size=(2, 4, 4), dtype=np.uint8)
    save(tmp_path / "src" / "0.png", gray[0])
    save(tmp_path / "src" / "1.png", gray[1])
    ds = load_dataset(str(prepare(tmp_path / "src", tmp_path / "out", log=quiet)))
    assert ds.labels is None and ds.samples.shape == (2, 1, 4, 4)
    assert np.array_equal(ds.samples.levels().numpy()[:, 0], gray)


def test_resolution_center_crops_then_resizes_with_lanczos(tmp_path):
    centre = np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5
    wide = np.full((4, 8, 3), 255, np.uint8)
    wide[:, 2:6] = centre                          # 8 wide: columns 2..5 are the middle
    tall = np.full((7, 4, 3), 255, np.uint8)
    tall[1:5] = centre                             # 7 high: rows (7 - 4) // 2 = 1 .. 4
    save(tmp_path / "src" / "a_wide.png", wide)
    save(tmp_path / "src" / "b_tall.png", tall)
    ds = load_dataset(str(prepare(tmp_path / "src", tmp_path / "out4", resolution=4, log=quiet)))
    for row in ds.samples.levels().numpy():
        assert np.array_equal(row.transpose(1, 2, 0), centre)   # cropped, not resized
    ds = load_dataset(str(prepare(tmp_path / "src", tmp_path / "out2", resolution=2, log=quiet)))
    want = np.asarray(Image.fromarray(centre).resize((2, 2), Image.LANCZOS))
    for row in ds.samples.levels().numpy():
        assert np.array_equal(row.transpose(1, 2, 0), want)
    meta = json.loads((tmp_path / "out2" / "meta.json").read_text())
    assert meta["resolution"] == 2 and meta["shape"] == [2, 3, 2, 2]


def test_different_sizes_without_resolution_name_both_files_and_the_option(tmp_path):
    save(tmp_path / "src" / "a.png", rgb(0, 4, 4))
    save(tmp_path / "src" / "b.png", rgb(0, 4, 6))
    with pytest.raises(UserError, match=r"a\.png is 4x4 but b\.png is 6x4.*--resolution"):
        prepare(tmp_path / "src", tmp_path / "out", log=quiet)


def bad_source(tmp_path):
    for i in range(3):
        save(tmp_path / "src" / f"ok{i}.png", rgb(i))
    (tmp_path / "src" / "garbage.png").write_bytes(b"not a png at all")          # header fails
    good = (tmp_path / "src" / "ok0.png").read_bytes()
    (tmp_path / "src" / "truncated.png").write_bytes(good[:len(good) // 2])      # decode fails
    return tmp_path / "src"


def test_unreadable_files_are_listed_together_and_refused(tmp_path):
    with pytest.raises(UserError) as err:
        prepare(bad_source(tmp_path), tmp_path / "out", log=quiet)
    message = str(err.value)
    assert "2 of 5 files" in message and "garbage.png" in message
    assert "truncated.png" in message and "--skip-bad" in message
    assert not (tmp_path / "out").exists()                                       # nothing left


def test_skip_bad_leaves_them_out_and_records_them(tmp_path):
    lines = []
    dst = prepare(bad_source(tmp_path), tmp_path / "out", skip_bad=True, log=lines.append)
    meta = json.loads((dst / "meta.json").read_text())
    assert [s["file"] for s in meta["skipped"]] == ["garbage.png", "truncated.png"]
    ds = load_dataset(str(dst))
    assert np.array_equal(ds.samples.levels().numpy(),
                          np.stack([rgb(i).transpose(2, 0, 1) for i in range(3)]))
    assert any("left out 2 files" in line for line in lines)


def test_a_zip_prepares_the_same_bytes_as_its_folder(tmp_path):
    for name, seed in (("a/1.png", 0), ("b/2.png", 1), ("b/3.jpg", 2)):
        save(tmp_path / "src" / name, rgb(seed))
    with zipfile.ZipFile(tmp_path / "src.zip", "w") as zf:
        for path in sorted((tmp_path / "src").rglob("*.*")):
            zf.write(path, path.relative_to(tmp_path / "src").as_posix())
    folder = prepare(tmp_path / "src", tmp_path / "f", log=quiet)
    zipped = prepare(tmp_path / "src.zip", tmp_path / "z", log=quiet)
    for name in ("images.u8", "labels.i64"):
        assert (folder / name).read_bytes() == (zipped / name).read_bytes()
    meta_f, meta_z = (json.loads((d / "meta.json").read_text()) for d in (folder, zipped))
    assert meta_f["images_sha256"] == meta_z["images_sha256"]
    assert meta_f["source_list_sha256"] == meta_z["source_list_sha256"]


def test_destination_must_be_new_or_empty(tmp_path):
    save(tmp_path / "src" / "a.png", rgb(0))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        prepare(tmp_path / "src", tmp_path / "busy", log=quiet)
    prepare(tmp_path / "src", tmp_path / "out", log=quiet)
    with pytest.raises(UserError, match="already holds a prepared dataset"):
        prepare(tmp_path / "src", tmp_path / "out", log=quiet)
    with pytest.raises(UserError, match="SRC itself"):
        prepare(tmp_path / "src", tmp_path / "src", log=quiet)


def test_damaged_prepared_files_are_clean_errors(tmp_path):
    save(tmp_path / "src" / "a" / "1.png", rgb(0))
    save(tmp_path / "src" / "b" / "2.png", rgb(1))
    dst = prepare(tmp_path / "src", tmp_path / "out", log=quiet)
    images, meta = dst / "images.u8", dst / "meta.json"
    pixels, text = images.read_bytes(), meta.read_text()
    images.write_bytes(pixels[:-7])
    with pytest.raises(UserError, match=r"has 173 bytes but meta.json promises 180"):
        load_dataset(str(dst))
    images.write_bytes(pixels)
    (dst / "labels.i64").write_bytes(b"\0" * 8)
    with pytest.raises(UserError, match="labels.i64 has 8 bytes"):
        load_dataset(str(dst))
    meta.write_text(text[:20])
    with pytest.raises(UserError, match="meta.json is damaged"):
        load_dataset(str(dst))
    meta.write_text(json.dumps({**json.loads(text), "shape": [2, 3, 6]}))
    with pytest.raises(UserError, match="shape"):
        load_dataset(str(dst))
    meta.write_text(text)
    images.unlink()
    with pytest.raises(UserError, match="lacks .*images.u8"):
        load_dataset(str(dst))


def test_prepare_does_not_import_torch(tmp_path):
    save(tmp_path / "src" / "a.png", rgb(0))
    probe = (f"import sys\nfrom ganforge.data.prepare import prepare\n"
             f"prepare({str(tmp_path / 'src')!r}, {str(tmp_path / 'out')!r}, log=print)\n"
             "assert 'torch' not in sys.modules, 'torch was imported'\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "prepared 1 RGB 5x6 images" in out.stdout


def test_the_command_line_prepares_trains_with_xflip_and_resumes_exactly(tmp_path):
    """ganforge prepare SRC DST --resolution 32, then ganforge train data=DST data.xflip=true:
    4 steps, and 2 + 2 resumed give the same G and D bytes."""
    import torch

    from ganforge.checkpoint import load_checkpoint
    from ganforge.cli import main

    for i in range(40):   # two classes, sizes that need the crop and the resize
        save(tmp_path / "src" / ("cat" if i % 2 else "dog") / f"{i:02d}.png", rgb(i, 36, 40))
    assert main(["prepare", str(tmp_path / "src"), str(tmp_path / "dst"),
                 "--resolution", "32"]) == 0
    meta = json.loads((tmp_path / "dst" / "meta.json").read_text())
    assert meta["shape"] == [40, 3, 32, 32] and meta["classes"] == ["cat", "dog"]
    common = ["train", "--no-progress", f"data={tmp_path / 'dst'}", "data.xflip=true",
              "model.width=8", "model.z_dim=8", "batch_size=8", "log_every=1",
              "sample_every=0", "tensorboard=false", "checkpoint_every=2"]
    assert main([*common, "steps=4", f"run_dir={tmp_path / 'whole'}"]) == 0
    assert main([*common, "steps=2", f"run_dir={tmp_path / 'split'}"]) == 0
    assert main(["train", "--no-progress", "--resume", str(tmp_path / "split"), "steps=4"]) == 0
    whole = load_checkpoint(tmp_path / "whole/checkpoints/step_0000004.pt")
    split = load_checkpoint(tmp_path / "split/checkpoints/step_0000004.pt")
    for net in ("G", "D"):
        for key, value in whole[net].items():
            assert torch.equal(value, split[net][key]), (net, key)
