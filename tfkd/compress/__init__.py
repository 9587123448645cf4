"""Teacher-guided compression with TensorFlow Model Optimization.

Each step fine-tunes through ``tfkd.Distiller`` when a teacher is given, so the
teacher keeps guiding the student while it is pruned, clustered and trained for int8:

- ``prune``: magnitude pruning (polynomial or constant schedule, or 2:4), stripped.
- ``cluster``: weight clustering (sparsity-preserving by default), stripped.
- ``quantize``: quantization-aware training; keeps sparsity and clusters (PQAT, CQAT, PCQAT).
- ``summary``: parameters, sparsity and distinct values per kernel.

All three fine-tune as one ``FineTune`` says (teacher, epochs, optimiser, callbacks,
the Distiller's recipe); pass one as ``fine_tune=`` or its fields as keywords.

Example:

>>> import tfkd
>>> (x, y), _, _ = tfkd.data.load("digits")
>>> student = tfkd.models.cnn_student((8, 8, 1), 10)
>>> pruned = tfkd.compress.prune(student, (x[:256], y[:256]), target_sparsity=0.5, epochs=1, verbose=0)
>>> qat = tfkd.compress.quantize(pruned, (x[:256], y[:256]), epochs=1, verbose=0)
>>> tfkd.compress.choose_scheme(pruned)
'prune_preserve'
"""

from tfkd.compress.cluster import cluster
from tfkd.compress.fine_tune import FineTune
from tfkd.compress.prune import prune
from tfkd.compress.quantize import choose_scheme, quantize
from tfkd.compress.summary import Summary, summary

__all__ = ["FineTune", "cluster", "choose_scheme", "prune", "quantize", "summary", "Summary"]
