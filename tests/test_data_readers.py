"""Dataset readers on files written in the real on-disk formats, and their errors."""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from awsaug_cli.data import DataError, load_dataset
from awsaug_cli.data.split import stratified_split

from .fake_datasets import idx_bytes, tar_folder, write_cifar, write_folder, write_idx

FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_digits_are_built_in_rgb_and_split_off_a_test_part():
    data = load_dataset("digits")
    assert data.train_images.shape == (1437, 3, 32, 32) and data.test_images.shape == (360, 3, 32, 32)
    assert data.train_images.dtype == torch.uint8 and len(data.classes) == 10
    assert torch.equal(data.train_images[:, 0], data.train_images[:, 2])  # grey made RGB
    assert int(data.train_images.max()) == 255
    assert load_dataset("digits").fingerprint() == data.fingerprint()
    assert load_dataset("digits", image_size=24).train_images.shape[-1] == 24


@pytest.mark.parametrize("variant,classes", [("cifar10", 10), ("cifar100", 100)])
@pytest.mark.parametrize("packed", ["folder", "parent", "tarball"])
def test_cifar_python_layout(tmp_path, variant, classes, packed):
    written = write_cifar(tmp_path / "src", variant, classes=classes)
    folder = next((tmp_path / "src").iterdir())
    path = {"folder": folder, "parent": tmp_path / "src", "tarball": tar_folder(folder, tmp_path / "cifar.tar.gz")}[
        packed
    ]
    data = load_dataset(str(path))
    assert data.name == variant and len(data.classes) == classes and data.classes[1] == "class1"
    assert torch.equal(data.train_images, torch.from_numpy(written["train"]).view(-1, 3, 32, 32))
    assert data.train_labels.tolist() == written["train_labels"]
    assert torch.equal(data.test_images, torch.from_numpy(written["test"]).view(-1, 3, 32, 32))


def test_truncated_cifar_batch_names_the_file(tmp_path):
    write_cifar(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(DataError, match="data_batch_3"):
        load_dataset(str(tmp_path))


def test_cifar_pickles_cannot_run_code(tmp_path):
    write_cifar(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataError, match="unexpected object builtins.print"):
        load_dataset(str(tmp_path))


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_plain_and_gzipped(tmp_path, gz):
    arrays = write_idx(tmp_path / "mnist", gz)
    data = load_dataset(str(tmp_path / "mnist"))
    assert data.train_images.shape == (30, 3, 28, 28)
    assert torch.equal(data.train_images[:, 1], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert data.test_labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()


def test_truncated_and_foreign_idx_files(tmp_path):
    arrays = write_idx(tmp_path / "a", gz=True)
    images = tmp_path / "a" / "train-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(idx_bytes(arrays["train-images-idx3-ubyte"])[:-100]))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: truncated"):
        load_dataset(str(tmp_path / "a"))
    write_idx(tmp_path / "b", gz=False)
    (tmp_path / "b" / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x0d\x01" + bytes(14))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: not an unsigned-byte IDX"):
        load_dataset(str(tmp_path / "b"))


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist():
    data = load_dataset(str(FASHION))
    assert data.train_images.shape == (60000, 3, 28, 28) and data.test_images.shape == (10000, 3, 28, 28)
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert torch.bincount(data.train_labels).tolist() == [6000] * 10


def test_image_folder_with_png_jpeg_grey_and_rgba(tmp_path):
    write_folder(tmp_path / "pets")
    data = load_dataset(str(tmp_path / "pets"), image_size=16)
    assert data.classes == ("cat", "dog", "fox")
    total = len(data.train_images) + len(data.test_images)
    assert total == 18 and data.train_images.shape[1:] == (3, 16, 16)
    assert len(data.test_labels) == 4 and sorted(torch.bincount(data.test_labels).tolist()) == [1, 1, 2]
    grey = data.train_images[(data.train_images[:, 0] == data.train_images[:, 1]).flatten(1).all(1)]
    assert len(grey) > 0  # the grey images arrive as RGB with equal channels


def test_image_folder_with_split_subfolders(tmp_path):
    for split in ("train", "val", "test"):
        write_folder(tmp_path / "set" / split, per_class=3)
    data = load_dataset(str(tmp_path / "set"), image_size=12)
    assert len(data.train_images) == 9 and len(data.val_images) == 9 and len(data.test_images) == 9


def test_image_folder_errors(tmp_path):
    write_folder(tmp_path / "bad")
    (tmp_path / "bad" / "dog" / "broken.png").write_bytes(b"this is not a png")
    (tmp_path / "bad" / "cat" / "notes.txt").write_text("not an image")
    with pytest.raises(
        DataError, match=r"2 file\(s\) that are not usable images: .*cat/notes.txt.*dog/broken.png.*--skip-bad-files"
    ):
        load_dataset(str(tmp_path / "bad"))
    skipped = load_dataset(str(tmp_path / "bad"), skip_bad_files=True)
    assert len(skipped.train_images) + len(skipped.test_images) == 18  # the good ones, all of them
    write_folder(tmp_path / "one", classes=("solo",))
    with pytest.raises(DataError, match="at least 2 class folders"):
        load_dataset(str(tmp_path / "one"))
    write_folder(tmp_path / "empty")
    for image in (tmp_path / "empty" / "fox").iterdir():
        image.unlink()
    with pytest.raises(DataError, match="fox: class folder without images"):
        load_dataset(str(tmp_path / "empty"))


def test_unknown_paths_and_formats(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        load_dataset(str(tmp_path / "missing"))
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "readme.md").write_text("hello")
    with pytest.raises(DataError, match="not a dataset awsaug can read"):
        load_dataset(str(tmp_path / "stuff"))
    (tmp_path / "data.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(DataError, match="not a readable tarball"):
        load_dataset(str(tmp_path / "data.tar.gz"))


def test_stratified_split_keeps_class_shares_and_is_reproducible():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    first, second = stratified_split(labels, 20, seed=3)
    assert len(second) == 20 and len(first) == 80 and not set(first.tolist()) & set(second.tolist())
    assert torch.bincount(labels[second]).tolist() == [10, 6, 4]
    again = stratified_split(labels, 20, seed=3)
    assert torch.equal(again[1], second)
    assert not torch.equal(stratified_split(labels, 20, seed=4)[1], second)
    with pytest.raises(DataError):
        stratified_split(labels, 100, seed=0)


@pytest.mark.parametrize(
    "batch, field, expected",
    [
        ({b"labels": [10**30] * 12}, "'labels'", "class indices"),
        ({b"labels": ["a"] * 12}, "'labels'", "class indices"),
        ({b"labels": [[1, 2]] * 12}, "'labels'", "class indices"),
        ({b"labels": [[1], [2, 3]] * 6}, "'labels'", "class indices"),
        ({b"labels": [-1] * 12}, "'labels'", "class indices"),
        ({b"data": np.zeros((12, 3072), np.float32)}, "'data'", "float32 values; CIFAR pixels are uint8"),
    ],
)
def test_crafted_cifar_batch_fields_are_named(tmp_path, batch, field, expected):
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    with open(path, "rb") as handle:
        content = pickle.load(handle)
    content.update(batch)
    path.write_bytes(pickle.dumps(content))
    with pytest.raises(
        DataError, match=f"data_batch_2\\): field {field}: .*{expected}|data_batch_2\\): field {field} holds"
    ):
        load_dataset(str(tmp_path))


@pytest.mark.parametrize(
    "names, expected",
    [([1, 2, 3], "expected a list of class names"), ([b"\xff\xfe"] * 10, "a class name is not UTF-8 text")],
)
def test_crafted_cifar_class_names_are_named(tmp_path, names, expected):
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))
    with pytest.raises(DataError, match=f"batches.meta\\): field 'label_names': {expected}"):
        load_dataset(str(tmp_path))


def test_a_link_inside_a_cifar_tarball_is_refused(tmp_path):
    write_cifar(tmp_path / "src")
    folder = tmp_path / "src" / "cifar-10-batches-py"
    (folder / "test_batch").unlink()
    (folder / "test_batch").symlink_to("/etc/passwd")
    with pytest.raises(DataError, match="test_batch: not a regular file"):
        load_dataset(str(tar_folder(folder, tmp_path / "cifar.tar.gz")))


def test_a_16_bit_png_is_scaled_to_8_bits_not_clipped(tmp_path):
    write_folder(tmp_path / "folder", per_class=3)
    ramp = np.arange(0, 65536, 64, dtype=np.uint16).reshape(32, 32)
    Image.fromarray(ramp).save(tmp_path / "folder" / "cat" / "deep.png")
    assert Image.open(tmp_path / "folder" / "cat" / "deep.png").mode == "I;16"
    data = load_dataset(str(tmp_path / "folder"), image_size=32)
    images = torch.cat([data.train_images, data.test_images])
    expected = torch.from_numpy(np.round(ramp / 257).astype(np.uint8))
    assert any(torch.equal(image[0], expected) and torch.equal(image[1], expected) for image in images)


@pytest.mark.parametrize(
    "make, why",
    [
        (
            lambda path: Image.fromarray(np.ones((8, 8), np.float32)).save(path.with_suffix(".tiff")),
            "floating-point pixels",
        ),
        (lambda path: path.with_suffix(".png").write_bytes(_png_bytes()[:-40]), "not a readable image"),
        (lambda path: path.with_suffix(".jpg").write_bytes(_jpeg_bytes()[:-200]), "truncated JPEG"),
    ],
)
def test_images_that_cannot_be_read_whole_are_named(tmp_path, make, why):
    write_folder(tmp_path / "folder", per_class=3)
    make(tmp_path / "folder" / "dog" / "odd")
    with pytest.raises(DataError, match=f"odd\\.[a-z]+: {why}"):
        load_dataset(str(tmp_path / "folder"))


def test_an_image_too_large_to_decode_safely_is_named(tmp_path, monkeypatch):
    from awsaug_cli.data import folder_files

    monkeypatch.setattr(folder_files, "MAX_PIXELS", 30 * 30)  # a 12000×12000 PNG took 880 MB to decode
    write_folder(tmp_path / "folder", per_class=3)
    Image.new("RGB", (40, 40)).save(tmp_path / "folder" / "fox" / "huge.png")
    with pytest.raises(DataError, match="huge.png: 40×40 pixels, beyond the 900 "):
        load_dataset(str(tmp_path / "folder"))


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()
