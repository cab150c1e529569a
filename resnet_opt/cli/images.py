"""digits-images and fashion-images: a few real images to try ``predict`` on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from resnet_opt.cli.app import app
from resnet_opt.cli.choices import DigitsSplit, FashionSplit, choice_option
from resnet_opt.cli.common import JsonOpt, handle_errors, print_result
from resnet_opt.core.artifact import to_json


@app.command("digits-images")
@handle_errors
def digits_images_cmd(
    out: Path = typer.Option(..., "--out", help="Folder to write OUT/<digit>/<split>-<index>.png into."),
    count: int = typer.Option(20, "--count", help="How many images, spread evenly over the ten digits."),
    split: DigitsSplit = choice_option(DigitsSplit.val, "--split", help="val (never trained on) or train."),
    scale: int = typer.Option(1, "--scale", help="Write them N times larger (nearest neighbour) to look at; 1 keeps "
                                                  "the dataset's 8×8 pixels, which predict then sees exactly as eval."),
    as_json: JsonOpt = False,
) -> None:
    """Write scikit-learn digits images as PNG files (light ink on a dark ground, as the digits models expect), to try
    `resnet-opt predict` on real images; folder names are the labels, so predict also scores them."""
    from resnet_opt.data.digits_images import write_digits_images

    _wrote_images(write_digits_images(out, count=count, split=split.value, scale=scale), as_json, "digits",
                  "PNG, light ink on a dark ground", "digit")


def _wrote_images(res: Any, as_json: bool, what: str, kind: str, folder: str) -> None:
    if as_json:
        typer.echo(to_json(res.to_dict()))
        return
    print_result(f"wrote {len(res.files)} {res.split}-split {what} images ({res.size_px}×{res.size_px} px {kind})",
                 f"{res.out}/<{folder}>/")
    print_result("try: resnet-opt predict MODEL_OR_ARTIFACT", res.out)


@app.command("fashion-images")
@handle_errors
def fashion_images_cmd(
    out: Path = typer.Option(..., "--out", help="Folder to write OUT/<class>/<split>-<index>.png into."),
    count: int = typer.Option(20, "--count", help="How many images, spread evenly over the ten classes."),
    split: FashionSplit = choice_option(FashionSplit.test, "--split", help="test (the official test images), val or train."),
    scale: int = typer.Option(1, "--scale", help="Write them N times larger (nearest neighbour) to look at; 1 keeps "
                                                  "the 28×28 pixels, which predict then sees exactly as eval."),
    as_json: JsonOpt = False,
) -> None:
    """Write Fashion-MNIST product photos as PNG files (from Debian's dataset-fashion-mnist), to try `resnet-opt
    predict` on real images; folder names are the classes, so predict also scores them."""
    from resnet_opt.data.digits_images import write_fashion_images

    _wrote_images(write_fashion_images(out, count=count, split=split.value, scale=scale), as_json, "Fashion-MNIST",
                  "grayscale PNG", "class")
