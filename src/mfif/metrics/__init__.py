"""Objective fusion metrics. Images are compared on 8-bit luminance Y (BT.601) by default."""

from .reference import luminance_8bit, psnr, ssim

__all__ = ["luminance_8bit", "psnr", "ssim"]
