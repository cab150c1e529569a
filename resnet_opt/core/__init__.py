"""Shared, dependency-free foundations: typed errors, atomic artifact folders, manifests, environment facts."""
from resnet_opt.core.errors import *  # noqa: F401,F403
