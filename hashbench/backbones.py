"""Image CNNs up to their penultimate layer, and raw images as their input tensor.

Shared by the deep methods' backbone mode and ``hashbench datasets extract``.
The networks come from torchvision (``pip install hashbench[vision]``);
pretrained weights from torchvision's local cache.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from hashbench.errors import UsageError

_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _torchvision_backbone(name: str, width: int) -> Callable[[bool], tuple[nn.Module, int]]:
    def build(pretrained: bool) -> tuple[nn.Module, int]:
        try:
            import torchvision
        except (ImportError, RuntimeError) as error:  # RuntimeError: a torchvision built for another torch
            raise UsageError(f"backbone={name!r}: torchvision cannot be imported ({error}); "
                             "install the torchvision that matches your torch") from None  # fmt: skip
        model = torchvision.models.get_model(name, weights="DEFAULT" if pretrained else None)
        if name == "resnet50":
            model.fc = nn.Identity()
        else:  # alexnet, vgg: keep fc6 and fc7, drop the 1000-way classifier
            model.classifier = model.classifier[:-1]
        return model, width

    return build


#: Backbone mode: name -> factory(pretrained) returning the network up to its penultimate feature, and its width.
BACKBONES: dict[str, Callable[[bool], tuple[nn.Module, int]]] = {
    name: _torchvision_backbone(name, width)
    for name, width in {"alexnet": 4096, "vgg16": 4096, "vgg19": 4096, "resnet50": 2048}.items()
}


def image_tensor(images: np.ndarray, image_size: int) -> torch.Tensor:
    """Raw images as an ImageNet-normalised float batch, from file paths (any size, read with Pillow)
    or from an (n, 3, H, W) array of 0..255 values; resized to image_size x image_size."""
    if images.ndim == 1:
        from PIL import Image

        arrays = []
        for path in images:
            with Image.open(path) as image:
                resized = image.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR)
            arrays.append(np.asarray(resized).transpose(2, 0, 1))
        tensor = torch.from_numpy(np.stack(arrays).astype(np.float32))
    else:
        tensor = torch.as_tensor(np.asarray(images), dtype=torch.float32)
        tensor = functional.interpolate(tensor, size=(image_size, image_size), mode="bilinear", align_corners=False)
    mean, std = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
    return (tensor / 255.0 - mean) / std
