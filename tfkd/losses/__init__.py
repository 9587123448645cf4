"""Distillation terms.

Logit terms (``SoftTarget``, ``DKD``, ``OutputMSE``, ``OutputL1``) compare the models'
outputs; feature terms (``FeatureHint``, ``AttentionTransfer``) compare intermediate
activations of (teacher layer, student layer) pairs. Every term returns one value
per sample; the ``Distiller`` weighs and reduces them over the global batch.
"""

from tfkd.losses.attention_transfer import AttentionTransfer, attention_map
from tfkd.losses.base import FeatureTerm, LogitTerm
from tfkd.losses.dkd import DKD
from tfkd.losses.feature_hint import FeatureHint
from tfkd.losses.output_mse import OutputL1, OutputMSE
from tfkd.losses.soft_target import SoftTarget

__all__ = [
    "AttentionTransfer",
    "DKD",
    "FeatureHint",
    "FeatureTerm",
    "LogitTerm",
    "OutputL1",
    "OutputMSE",
    "SoftTarget",
    "attention_map",
]
