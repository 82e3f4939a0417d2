"""Where tensors are computed: CUDA when present, else the CPU (torch is imported only here,
when a device is chosen)."""

from __future__ import annotations

from .errors import OptionError

__all__ = ["select_device"]


def select_device(device: str | None = None, *, method: str | None = None) -> str:
    """``device``, or "cuda" when a CUDA device is available and "cpu" otherwise.

    Parameters
    ----------
    device : {"cpu", "cuda"} or None
    method : str, optional
        The method whose option ``device`` this is, for the message.

    Raises
    ------
    OptionError
        Another device, or "cuda" when there is none.
    """
    import torch

    if device not in (None, "cpu", "cuda"):
        raise OptionError(f"The device must be 'cpu' or 'cuda'; got {device!r}.")
    if device == "cuda" and not torch.cuda.is_available():
        if method is not None:
            raise OptionError(
                f"The option device of method '{method}' is 'cuda', but no CUDA device is "
                "available; use device=cpu."
            )
        raise OptionError("The device is 'cuda', but no CUDA device is available; use cpu.")
    return device or ("cuda" if torch.cuda.is_available() else "cpu")
