"""`hashbench datasets extract`: batched, resumable image features (a tiny CNN with random weights stands in
for the torchvision backbones, so the mechanics are tested without downloading weights)."""

import numpy as np
import pytest
import scipy.io
import torch
from matfiles import write_mat73
from PIL import Image

from hashbench import backbones
from hashbench.backbones import image_tensor
from hashbench.cli import main
from hashbench.datasets.mirflickr25k import MIRFLICKR25K
from hashbench.ingest.extract import IMAGE_SIZE, extract
from hashbench.ingest.prepared import DATA_ENV

N_IMAGES = 7


class TinyBackbone(torch.nn.Module):
    """Random-weight CNN up to a 16-d 'penultimate layer'; counts the images it sees."""

    def __init__(self, fail_after_batches=None):
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2))
        self.seen, self.batches, self.fail_after_batches = 0, 0, fail_after_batches

    def forward(self, images):
        if self.fail_after_batches is not None and self.batches == self.fail_after_batches:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-way
        self.seen, self.batches = self.seen + images.shape[0], self.batches + 1
        return self.features(images).flatten(1)


@pytest.fixture
def images(tmp_path, monkeypatch):
    """A folder of PNG files (in a sub-folder, as MIRFlickr's all_imgs.txt names them), already at the input
    size, so that Pillow (files) and torch (pixel arrays) have nothing to resize and must agree exactly."""
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    folder = tmp_path / "images"
    (folder / "mirflickr").mkdir(parents=True)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (N_IMAGES, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    names = []
    for i, image in enumerate(pixels):
        name = f"mirflickr/im{i + 1}.png"
        Image.fromarray(image).save(folder / name)
        names.append(name)
    (folder / "all_imgs.txt").write_bytes(("\r\n".join(names) + "\r\n").encode())
    return folder, pixels


def use_backbone(monkeypatch, model):
    monkeypatch.setitem(backbones.BACKBONES, "vgg16", lambda pretrained: (model, 16))


def test_extract_writes_one_row_per_listed_image_in_list_order(images, monkeypatch, capsys):
    folder, pixels = images
    model = TinyBackbone()
    use_backbone(monkeypatch, model)
    args = ["datasets", "extract", "mirflickr25k", "--images", str(folder), "--no-pretrained", "--batch-size", "3"]
    assert main(args) == 0
    path = capsys.readouterr().out.split()[-1]
    features = np.load(path)
    assert features.shape == (N_IMAGES, 16) and model.batches == 3
    with torch.no_grad():
        one_by_one = [model(image_tensor(pixels[i : i + 1].transpose(0, 3, 1, 2), IMAGE_SIZE)) for i in range(7)]
    np.testing.assert_allclose(features, torch.cat(one_by_one).numpy(), rtol=1e-5, atol=1e-6)


def test_an_interrupted_extract_resumes_after_its_last_saved_batch(images, monkeypatch):
    folder, _ = images
    use_backbone(monkeypatch, TinyBackbone(fail_after_batches=2))
    with pytest.raises(KeyboardInterrupt):
        extract(MIRFLICKR25K, folder, "vgg16", batch_size=2, pretrained=False, progress=False)
    resumed = TinyBackbone()
    use_backbone(monkeypatch, resumed)
    path = extract(MIRFLICKR25K, folder, "vgg16", batch_size=2, pretrained=False, progress=False)
    assert resumed.seen == N_IMAGES - 4  # the two saved batches were not computed again
    use_backbone(monkeypatch, TinyBackbone())
    whole = np.load(path).copy()
    path.unlink()
    np.testing.assert_array_equal(whole, np.load(extract(MIRFLICKR25K, folder, "vgg16", batch_size=2,
                                                         pretrained=False, progress=False)))  # fmt: skip
    assert sorted(p.name for p in path.parent.iterdir()) == ["image_features.npy"]


def test_the_dcmh_image_stack_of_a_v73_file_gives_the_features_of_the_same_images(images, monkeypatch, tmp_path):
    folder, pixels = images
    use_backbone(monkeypatch, TinyBackbone())
    from_files = np.load(extract(MIRFLICKR25K, folder, "vgg16", pretrained=False, progress=False)).copy()
    stack = write_mat73(tmp_path / "mirflickr25k-iall.mat", IAll=pixels.transpose(1, 2, 3, 0))  # MATLAB: H x W x 3 x n
    from_stack = np.load(extract(MIRFLICKR25K, stack, "vgg16", pretrained=False, progress=False))
    np.testing.assert_allclose(from_stack, from_files, rtol=1e-5, atol=1e-6)


def test_the_file_names_of_dcmh_fall_order_the_images_like_all_imgs(images, monkeypatch, tmp_path):
    folder, _ = images
    use_backbone(monkeypatch, TinyBackbone())
    listed = np.load(extract(MIRFLICKR25K, folder, "vgg16", pretrained=False, progress=False)).copy()
    names = (folder / "all_imgs.txt").read_text().split()
    (folder / "all_imgs.txt").unlink()
    cells = np.empty((N_IMAGES, 1), dtype=object)
    cells[:, 0] = names[::-1]  # another order: the features must follow it
    scipy.io.savemat(folder / "mirflickr25k-fall.mat", {"FAll": cells})
    from_fall = np.load(extract(MIRFLICKR25K, folder, "vgg16", pretrained=False, progress=False))
    np.testing.assert_array_equal(from_fall, listed[::-1])


def test_a_missing_image_list_or_image_is_named(images, capsys):
    folder, _ = images
    (folder / "mirflickr" / "im3.png").unlink()
    assert main(["datasets", "extract", "mirflickr25k", "--images", str(folder), "--no-pretrained"]) == 2
    assert "mirflickr/im3.png: no such image file" in capsys.readouterr().err
    (folder / "all_imgs.txt").unlink()
    assert main(["datasets", "extract", "mirflickr25k", "--images", str(folder), "--no-pretrained"]) == 2
    assert "all_imgs.txt: missing; expected the list of image files" in capsys.readouterr().err
