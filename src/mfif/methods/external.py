"""External programs as fusion methods, so peers are scored by the same code as mfif's own.

An external method writes the stack to lossless temporary files, runs a command and reads the
image it writes. `EnfuseFuser` runs enfuse (Debian package ``enfuse``) with focus-stacking
settings.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from ..errors import MfifError, OptionError
from ..fusion import Fusion, WholeStackFuser
from ..stack import Stack
from .registry import register

__all__ = ["ExternalCommandFuser", "EnfuseFuser"]


class ExternalCommandFuser(WholeStackFuser):
    """Fuse by running ``command``: ``{inputs}`` expands to the source files, ``{output}`` to
    the file to write (a TIFF).

    Parameters
    ----------
    command : sequence of str
        Program and arguments, e.g. ``["mytool", "{inputs}", "-o", "{output}"]``.
    label : str
        Name shown in reports.
    """

    name = "external"
    summary = "an external command run on the stack"
    external: ClassVar[bool] = True
    parameter_count: ClassVar[int | None] = None

    def __init__(self, command: Sequence[str], label: str = "external") -> None:
        if not command or shutil.which(command[0]) is None:
            program = command[0] if command else "(empty command)"
            raise OptionError(f"The program {program} is not installed or not on PATH.")
        self.command = list(command)
        self.label = label

    def fuse_stack(self, stack: Stack) -> Fusion:
        from ..io import read_image, save_image

        with tempfile.TemporaryDirectory(prefix="mfif-external-") as folder:
            inputs = []
            for k, image in enumerate(stack.images):
                path = Path(folder) / f"source-{k:03d}.tif"
                save_image(path, image, bit_depth=stack.bit_depth)
                inputs.append(str(path))
            output = str(Path(folder) / "fused.tif")
            arguments: list[str] = []
            for part in self.command:
                if part == "{inputs}":
                    arguments.extend(inputs)
                else:
                    arguments.append(part.replace("{output}", output))
            result = subprocess.run(arguments, capture_output=True, text=True)
            if result.returncode != 0 or not Path(output).exists():
                last = (result.stderr.strip().splitlines() or ["no message"])[-1]
                raise MfifError(f"{self.label} failed (exit {result.returncode}): {last}")
            image, _ = read_image(output)
        if image.ndim == 2:
            image = image[..., None]
        if image.shape[:2] != stack.size or image.shape[2] != stack.images.shape[3]:
            raise MfifError(f"{self.label} wrote an image of another size or channel count.")
        return Fusion(image=image)


@register
class EnfuseFuser(ExternalCommandFuser):
    """enfuse with the focus-stacking settings of its manual: exposure and saturation weights
    0, contrast weight 1, hard mask (each pixel from the sharpest source)."""

    name = "enfuse"
    summary = "enfuse (Debian package) with focus-stacking settings, as an external command"

    def __init__(self) -> None:
        if shutil.which("enfuse") is None:
            raise OptionError("enfuse is not installed; on Debian: apt-get install enfuse.")
        super().__init__(
            [
                "enfuse",
                "--exposure-weight=0",
                "--saturation-weight=0",
                "--contrast-weight=1",
                "--hard-mask",
                "--output={output}",
                "{inputs}",
            ],
            label="enfuse",
        )
