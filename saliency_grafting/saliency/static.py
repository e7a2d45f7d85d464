"""Image-based static saliency for SaliencyMix: spectral residual in torch, OpenCV's fine-grained as an option."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["opencv_fine_grained_saliency", "spectral_residual_saliency", "static_saliency"]


def _filter_matrix(size: int, weights: Tensor, boundary: str) -> Tensor:
    """The ``[size, size]`` matrix of a 1-D filter (odd ``weights``) with ``"reflect"`` or ``"circular"`` borders.

    Filtering rows and columns of a batch of maps is then two batched matmuls, much faster on a CPU than a
    one-channel convolution.
    """
    radius = weights.numel() // 2
    rows = torch.arange(size, device=weights.device).repeat_interleave(weights.numel())
    cols = rows + torch.arange(-radius, radius + 1, device=weights.device).repeat(size)
    if boundary == "circular":
        cols = cols.remainder(size)
    else:
        cols = cols.abs()
        cols = torch.where(cols > size - 1, 2 * (size - 1) - cols, cols)
    matrix = torch.zeros(size, size, device=weights.device, dtype=weights.dtype)
    return matrix.index_put_((rows, cols), weights.repeat(size), accumulate=True)


def _filter2d(maps: Tensor, weights: Tensor, boundary: str) -> Tensor:
    """Apply the separable filter ``weights x weights`` to ``[..., H, W]`` maps."""
    rows = _filter_matrix(maps.shape[-2], weights, boundary)
    cols = _filter_matrix(maps.shape[-1], weights, boundary)
    return rows @ maps @ cols.T


def spectral_residual_saliency(images: Tensor, scale: int = 64) -> Tensor:
    """Spectral residual saliency (Hou & Zhang, CVPR 2007), batched on device: ``[B, C, H, W] -> [B, H, W]``.

    The grey image is resized to ``scale x scale`` (64 in the paper) and reflect-padded by a quarter of that (so
    the FFT's periodic extension does not light up the borders); the saliency is the squared inverse FFT of the
    spectral residual (log amplitude minus its 3x3 local mean) with the original phase, blurred, cropped, resized
    back and scaled to [0, 1] per image.
    """
    if scale < 4:
        raise ValueError(f"scale must be an int >= 4 (pixels of the resized grey image), got {scale!r}")
    height, width = images.shape[-2:]
    pad = scale // 4
    grey = images.float().mean(dim=1, keepdim=True)
    grey = F.interpolate(grey, size=(scale, scale), mode="bilinear", align_corners=False, antialias=True)
    spectrum = torch.fft.fft2(F.pad(grey, (pad, pad, pad, pad), mode="reflect"))
    log_amplitude = torch.log(spectrum.abs().clamp_min(1e-8))
    local_mean = _filter2d(log_amplitude, torch.full((3,), 1 / 3, device=grey.device), "circular")
    # exp(log|F| - local mean) * exp(i phase) = F * exp(-local mean)
    saliency = torch.fft.ifft2(spectrum * torch.exp(-local_mean)).abs().pow(2)
    gaussian = torch.exp(-0.5 * (torch.arange(-5.0, 6.0, device=grey.device) / 3.0) ** 2)
    saliency = _filter2d(saliency[..., pad:-pad, pad:-pad], gaussian / gaussian.sum(), "reflect")
    saliency = F.interpolate(saliency, size=(height, width), mode="bilinear", align_corners=False).squeeze(1)
    low = saliency.flatten(1).amin(1).view(-1, 1, 1)
    high = saliency.flatten(1).amax(1).view(-1, 1, 1)
    return (saliency - low) / (high - low).clamp_min(1e-12)


def opencv_fine_grained_saliency(images: Tensor) -> Tensor:
    """OpenCV's ``StaticSaliencyFineGrained`` (the official SaliencyMix's detector), ``[B, C, H, W] -> [B, H, W]``.

    Needs the ``opencv`` extra. Runs per image on the CPU (a host round-trip: slow, not for a GPU hot path).
    Each image is min-max scaled to uint8 first: the detector silently misbehaves on float input, which the
    official SaliencyMix code passes it.
    """
    try:
        import cv2
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "opencv_fine_grained saliency needs OpenCV's contrib modules: pip install 'saliency_grafting[opencv]'"
        ) from err
    detector = cv2.saliency.StaticSaliencyFineGrained_create()  # type: ignore[attr-defined]
    flat = images.detach().float().flatten(1)
    low, high = flat.amin(1).view(-1, 1, 1, 1), flat.amax(1).view(-1, 1, 1, 1)
    pixels = ((images.detach().float() - low) / (high - low).clamp_min(1e-12) * 255).round().to(torch.uint8)
    maps = []
    for image in pixels.permute(0, 2, 3, 1).cpu().numpy():
        ok, saliency = detector.computeSaliency(image[..., ::-1].copy())  # OpenCV expects BGR
        if not ok:
            raise RuntimeError("OpenCV's fine-grained saliency detector failed on an image")
        maps.append(torch.from_numpy(saliency).float())
    return torch.stack(maps).to(images.device) / 255.0


def static_saliency(
    images: Tensor, method: Literal["spectral_residual", "opencv_fine_grained"] = "spectral_residual"
) -> Tensor:
    """Static image saliency ``[B, H, W]`` by ``method``."""
    if method == "spectral_residual":
        return spectral_residual_saliency(images)
    if method == "opencv_fine_grained":
        return opencv_fine_grained_saliency(images)
    raise ValueError(f"method must be 'spectral_residual' or 'opencv_fine_grained', got {method!r}")
