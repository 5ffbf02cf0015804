"""MS-COCO 2014 (Lin et al., ECCV 2014): 123,287 train+val images, 80 categories; the SSAH protocol.

Besides the common layouts (see :mod:`hashbench.ingest.layouts`), the folder may hold
the DCHMT text files: ``labels_annotation.txt`` (comma-separated category
names per image, empty for the 1,069 images without a label, which are
dropped: 122,218 items) with ``all_txts.txt`` (the captions of each image on
one line), whose text is the 0/1 bag of the 2,000 words found in the most
items (lower-cased runs of letters), or with ``text_features.*``.
"""

from __future__ import annotations

from pathlib import Path

from hashbench.ingest.layouts import Protocol, StandardDataset, TextLayout
from hashbench.ingest.textfiles import bag_of_words, caption_words, most_frequent, read_label_names, read_lines
from hashbench.registry import register_dataset

WORDS = 2000
#: The 80 categories in COCO's category-id order, spelt as the DCHMT label files spell them.
CLASS_NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "TV", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip


def read_text_layout(folder: Path) -> TextLayout | None:
    """The DCHMT label file (and captions, if present) in ``folder``, or ``None`` without ``labels_annotation.txt``."""
    labels_path = folder / "labels_annotation.txt"
    if not labels_path.is_file():
        return None
    labels = read_label_names(labels_path, CLASS_NAMES)
    captions_path = folder / "all_txts.txt"
    text, about = None, ""
    if captions_path.is_file():
        documents = [caption_words(line) for line in read_lines(captions_path)]
        vocabulary = most_frequent(documents, WORDS)
        text = bag_of_words(documents, vocabulary)
        about = f"{len(vocabulary):,}-d 0/1 bag of the most frequent caption words of {captions_path.name}"
    return TextLayout(
        labels=labels,
        class_names=list(CLASS_NAMES),
        keep=labels.any(axis=1),
        files=[labels_path, *([captions_path] if text is not None else [])],
        text=text,
        text_about=about,
    )


MSCOCO = register_dataset("mscoco")(
    StandardDataset(
        name="mscoco",
        title="MS-COCO 2014: images with captions, 80 categories (bring the files; see README)",
        reference="Lin et al., Microsoft COCO: Common Objects in Context, ECCV 2014",
        licence="annotations CC BY 4.0; images under their Flickr licences (cocodataset.org/#termsofuse)",
        labels=f"{len(CLASS_NAMES)} categories, multi-label; images without a label dropped",
        protocol=Protocol(queries=2000, training=10000),
        class_names=CLASS_NAMES,
        read_text_layout=read_text_layout,
        text_files="labels_annotation.txt (+ all_txts.txt)",
    )
)
