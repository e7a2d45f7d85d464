"""Saliency sources: forward feature maps (hook), input gradients, Grad-CAM and static image saliency."""

from saliency_grafting.saliency.forward import (
    FeatureLayer,
    ForwardSaliency,
    find_last_conv_stage,
    reduce_features,
    resolve_feature_layer,
)
from saliency_grafting.saliency.gradient import grad_cam, input_gradient_saliency
from saliency_grafting.saliency.static import (
    opencv_fine_grained_saliency,
    spectral_residual_saliency,
    static_saliency,
)

__all__ = [
    "FeatureLayer",
    "ForwardSaliency",
    "find_last_conv_stage",
    "grad_cam",
    "input_gradient_saliency",
    "opencv_fine_grained_saliency",
    "reduce_features",
    "resolve_feature_layer",
    "spectral_residual_saliency",
    "static_saliency",
]
