"""Dataset readers and synthetic focus stacks with known ground truth."""

from .synthetic import disk_kernel, fill_unknown_disparity, render_depth_stack

__all__ = ["disk_kernel", "fill_unknown_disparity", "render_depth_stack"]
