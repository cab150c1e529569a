"""Every image mode Pillow reads decodes to the right 8-bit values (16-bit rescaled, not clipped; alpha applied;
palette, CMYK, 1-bit converted), and the same picture in any mode gives the same model input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_opt.data import digits_preprocessing, load_image
from resnet_opt.data.preprocessing import open_image

RAMP8 = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1))  # 16x16, 0..240


def _save(img: Image.Image, path, fmt: str = "PNG"):
    img.save(path, format=fmt)
    return path


def test_16bit_grayscale_is_rescaled_not_clipped(tmp_path):
    a16 = RAMP8.astype(np.uint16) * 257  # the same picture at 16 bits (x * 257 maps 0..255 onto 0..65535)
    p16 = _save(Image.fromarray(a16), tmp_path / "g16.png")
    p8 = _save(Image.fromarray(RAMP8, mode="L"), tmp_path / "g8.png")
    assert Image.open(p16).mode in ("I;16", "I", "I;16B")
    assert np.array_equal(np.asarray(open_image(p16)), RAMP8)
    pre = digits_preprocessing(16)
    assert torch.equal(load_image(p16, pre), load_image(p8, pre))


def test_32bit_integer_and_float_grayscale(tmp_path):
    ai = (RAMP8.astype(np.int32) * 257)
    pi = _save(Image.fromarray(ai, mode="I"), tmp_path / "i.tif", "TIFF")
    assert np.array_equal(np.asarray(open_image(pi)), RAMP8)
    pf = _save(Image.fromarray(RAMP8.astype(np.float32), mode="F"), tmp_path / "f.tif", "TIFF")
    assert np.array_equal(np.asarray(open_image(pf)), RAMP8)


def test_palette_cmyk_and_1bit(tmp_path):
    rgb = np.stack([RAMP8, RAMP8[::-1], np.full_like(RAMP8, 77)], axis=-1)
    im = Image.fromarray(rgb, mode="RGB")
    pal = _save(im.convert("P", palette=Image.Palette.ADAPTIVE, colors=256), tmp_path / "p.png")
    assert np.abs(np.asarray(open_image(pal)).astype(int) - rgb).max() <= 8  # palette quantisation only
    cmyk = _save(im.convert("CMYK"), tmp_path / "c.jpg", "JPEG")
    assert open_image(cmyk).mode == "RGB"
    assert np.abs(np.asarray(open_image(cmyk)).astype(int) - rgb).mean() < 12  # JPEG loss only
    bw = _save(Image.fromarray((RAMP8 >= 128).astype(np.uint8) * 255, mode="L").convert("1"), tmp_path / "b.png")
    assert set(np.unique(np.asarray(open_image(bw)))) <= {0, 255}
    assert np.array_equal(np.asarray(open_image(bw)), (RAMP8 >= 128).astype(np.uint8) * 255)


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_alpha_is_applied(tmp_path, mode):
    base = RAMP8 if mode == "LA" else np.stack([RAMP8] * 3, axis=-1)
    opaque = np.concatenate([base.reshape(16, 16, -1), np.full((16, 16, 1), 255, np.uint8)], axis=-1)
    clear = opaque.copy()
    clear[..., -1] = 0
    po = _save(Image.fromarray(opaque, mode=mode), tmp_path / "o.png")
    pc = _save(Image.fromarray(clear, mode=mode), tmp_path / "c.png")
    assert np.array_equal(np.asarray(open_image(po)), base)  # opaque: the colours as they are
    assert not np.asarray(open_image(pc)).any()  # fully transparent: black, not the hidden colours


def test_every_mode_gives_the_same_model_input(tmp_path):
    """One grayscale picture saved as L, I;16, LA (opaque), RGB, RGBA (opaque), P: the same digits input tensor."""
    pre = digits_preprocessing(16)
    ref = load_image(_save(Image.fromarray(RAMP8, mode="L"), tmp_path / "ref.png"), pre)
    rgb = Image.fromarray(RAMP8, mode="L").convert("RGB")
    variants = {
        "i16": Image.fromarray(RAMP8.astype(np.uint16) * 257),
        "la": Image.fromarray(RAMP8, mode="L").convert("LA"),
        "rgb": rgb, "rgba": rgb.convert("RGBA"), "p": rgb.convert("P", palette=Image.Palette.ADAPTIVE),
    }
    for name, im in variants.items():
        x = load_image(_save(im, tmp_path / f"{name}.png"), pre)
        assert torch.allclose(x, ref, atol=1e-6), name
