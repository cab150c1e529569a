"""The CLI layer's own contract: choice Enums agree with the lists the stages validate with, a refused choice is one
``error:`` line, one auto/on/off parser, shared options declared once (no signature rewriting)."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resnet_opt.cli import app, choices
from resnet_opt.cli.common import parse_auto_on_off
from resnet_opt.core.errors import ConfigError

runner = CliRunner()
CLI = Path(__file__).resolve().parents[1] / "resnet_opt" / "cli"


def _values(enum: type) -> set[str]:
    return {m.value for m in enum}


def test_choices_match_the_stage_checks():
    from resnet_opt.core.model_config import STEMS
    from resnet_opt.engine.train import AMP_DTYPES, AUGMENTATIONS
    from resnet_opt.export.pt2_export import DEVICES
    from resnet_opt.optimize.prune import IMPORTANCES
    from resnet_opt.pipeline.quantize import TARGETS as QUANTIZE_TARGETS
    from resnet_opt.export.triton import BACKENDS
    from resnet_opt.optimize.hardware import PRECISIONS, RUNTIMES
    from resnet_opt.optimize.qat import ACTIVATION_SCHEMES, TARGETS as QAT_TARGETS
    from resnet_opt.optimize.quantize_onnx import ACTIVATION_TYPES
    from resnet_opt.pipeline.evaluate import SPLITS
    from resnet_opt.serve.loadgen import PROTOCOLS

    assert _values(choices.Optimizer) == {"adamw", "sgd"}
    assert _values(choices.Augment) == set(AUGMENTATIONS)
    assert _values(choices.EvalSplit) == set(SPLITS)
    assert _values(choices.TargetRuntime) == set(RUNTIMES)
    assert _values(choices.TargetPrecision) == set(PRECISIONS)
    assert _values(choices.ActivationType) == {"auto", *ACTIVATION_TYPES}
    assert _values(choices.QatTarget) == set(QAT_TARGETS)
    assert _values(choices.QatActivation) == set(ACTIVATION_SCHEMES)
    assert _values(choices.TritonBackend) == set(BACKENDS)
    assert _values(choices.Protocol) == set(PROTOCOLS)
    assert _values(choices.Amp) == set(AMP_DTYPES)
    assert _values(choices.Stem) == set(STEMS)
    assert _values(choices.Importance) == set(IMPORTANCES)
    assert _values(choices.QuantizeTarget) == set(QUANTIZE_TARGETS)  # the registered kinds' targets
    assert _values(choices.Pt2Device) == set(DEVICES)


@pytest.mark.parametrize("args,option", [
    ("train --out {OUT} --optimizer adam", "--optimizer"),
    ("train --out {OUT} --augment mixup", "--augment"),
    ("eval --model {OUT} --split everything", "--split"),
    ("prune --out {OUT} --depth 18 --ratio 0.5 --target-runtime tvm", "--target-runtime"),
    ("prune --out {OUT} --depth 18 --ratio 0.5 --target-precision fp16", "--target-precision"),
    ("quantize --out {OUT} --depth 18 --activation-type int4", "--activation-type"),
    ("qat --model {OUT} --out {OUT}/q --target tpu", "--target"),
    ("qat --model {OUT} --out {OUT}/q --activation sym", "--activation"),
    ("export triton --model {OUT} --out {OUT}/t --backend grpc", "--backend"),
    ("digits-images --out {OUT} --split test", "--split"),
    ("fashion-images --out {OUT} --split calib", "--split"),
    ("serve-bench localhost:1 --model m --protocol ftp", "--protocol"),
    ("train --out {OUT} --amp fp8", "--amp"),
    ("train --out {OUT} --stem tiny", "--stem"),
    ("quantize --out {OUT} --depth 18 --target tpu", "--target"),
    ("export pt2 --out {OUT} --depth 18 --device tpu", "--device"),
    ("prune --out {OUT} --depth 18 --ratio 0.5 --importance random", "--importance"),
    ("pipeline --out {OUT} --importance random", "--importance"),
    ("optimize --out {OUT} --depth 18 --importance random", "--importance"),
])
def test_a_refused_choice_is_one_error_line(args, option, tmp_path):
    res = runner.invoke(app, args.format(OUT=tmp_path / "out").split())
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 2, res.output
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert f"Invalid value for '{option}'" in lines[0] and "is not one of" in lines[0], lines[0]
    assert "Value error" not in lines[0] and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_choices_match_in_any_case(tmp_path):
    # the stage checks lower-case their choices; the Enums do too (an upper-case value reaches the next check)
    res = runner.invoke(app, ["train", "--out", str(tmp_path / "r"), "--optimizer", "SGD", "--epochs", "0"])
    assert res.exit_code == 2 and "--epochs" in res.stderr, res.stderr


@pytest.mark.parametrize("text,want", [("auto", None), ("AUTO", None), ("on", True), ("true", True), ("Yes", True),
                                       ("1", True), ("off", False), ("false", False), ("no", False), ("0", False)])
def test_one_auto_on_off_parser(text, want):
    assert parse_auto_on_off(text, "--x") is want


def test_auto_on_off_refuses_anything_else():
    with pytest.raises(ConfigError, match="--reduce-range must be auto, on or off, got 'maybe'"):
        parse_auto_on_off("maybe", "--reduce-range")


def test_the_auto_on_off_parser_is_the_only_one():
    for f in CLI.glob("*.py"):
        text = f.read_text()
        if f.name == "common.py":
            continue
        assert '"on", "true"' not in text and '{"auto": "auto"' not in text, f"{f.name} parses auto/on/off itself"


def test_no_signature_rewriting():
    from resnet_opt.cli import common

    for name in ("options_into", "option_param", "model_source"):
        assert not hasattr(common, name)
    for f in CLI.glob("*.py"):
        text = f.read_text()
        assert "__signature__" not in text and "common: Any" not in text, f.name


def _commands():
    for cmd in app.registered_commands:
        yield cmd.name, cmd.callback
    for group in app.registered_groups:
        for cmd in group.typer_instance.registered_commands:
            yield f"{group.name} {cmd.name}", cmd.callback


@pytest.mark.parametrize("name,callback", list(_commands()), ids=[n for n, _ in _commands()])
def test_shared_options_come_from_the_aliases(name, callback):
    """Every --threads / --json / --overwrite / --nproc / --depth / --weights / --num-classes a command takes (with
    the shared help) is the Annotated alias of cli/common.py, named in the command's own signature."""
    from resnet_opt.cli import common

    fn = inspect.unwrap(callback)
    hints = typing.get_type_hints(fn, include_extras=True)
    aliases = {"--json": common.JsonOpt, "--nproc": common.NprocOpt, "--depth": common.DepthOpt,
               "--weights": common.WeightsOpt, "--num-classes": common.NumClassesOpt}
    for p in inspect.signature(fn).parameters.values():
        hint = hints.get(p.name)
        for meta in getattr(hint, "__metadata__", ()) or (p.default,):
            decls = getattr(meta, "param_decls", None) or ()
            for opt, alias in aliases.items():
                if opt in decls and hint is not alias:
                    helps = {getattr(m, "help", None) for m in alias.__metadata__}
                    assert getattr(meta, "help", None) not in helps, f"{name}: {opt} declared again, not {alias}"
