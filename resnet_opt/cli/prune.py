"""prune commands (see the matching issue)."""

from resnet_opt.cli.app import app  # noqa: F401
