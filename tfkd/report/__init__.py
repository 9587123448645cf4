"""Pictures and text that explain a tfkd run: training curves, the accuracy/size ladder,
per-layer sparsity, the int8 confusion matrix and softened teacher outputs.

Submodules load on use, so that importing ``tfkd.report`` does not pull in matplotlib.
"""
