"""Stages that compose the lower layers (models, data, optimize, export, bench) into user-level jobs."""
