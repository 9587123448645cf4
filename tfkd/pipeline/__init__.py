"""The stages of the whole pipeline, which ``tfkd demo``, ``tfkd export`` and the benchmarks run.

Each stage is a small class with a frozen ``Config`` and a ``Result`` dataclass, told
its inputs when it is built; ``Pipeline(work_dir).run(stage)`` runs it with one
progress line, saves its result atomically under ``work_dir`` and, on a rerun with the
same config and inputs, loads it instead (see ``tfkd.pipeline.stage``).

- training: ``Data``, ``Teacher``, ``Scratch``, ``Distil`` (textbook), ``DistilRecipe`` (``tfkd.distil``),
  ``ScratchAugmented`` (the fair baseline); ``Given`` and ``given_data`` for a model
  or arrays made elsewhere
- compression: ``Prune``, ``Cluster``, ``QAT`` (``Guidance``: how they fine-tune)
- deployment: ``Convert``, ``Verify``
- emit: ``CArrays``, ``Codegen``, ``Arduino``, ``Android``
- ``Report``: the report sections, timings and plots

Example:

>>> import tempfile, tfkd
>>> from tfkd import pipeline
>>> run = pipeline.Pipeline(tempfile.mkdtemp(), log=lambda line: None)
>>> data = run.run(pipeline.Data())
>>> model = run.run(pipeline.Given(model=tfkd.models.cnn_student((8, 8, 1), 10), data=data))
>>> converted = run.run(pipeline.Convert(model=model, data=data))
>>> converted.int8[4:8]
b'TFL3'
"""

from tfkd.pipeline.compression import QAT, Cluster, CompressedModel, Guidance, Prune
from tfkd.pipeline.deployment import Convert, Converted, Verified, Verify
from tfkd.pipeline.emit import Android, Arduino, CArrays, Codegen, Emitted
from tfkd.pipeline.report import Report, write_plots
from tfkd.pipeline.stage import Context, Pipeline, Stage
from tfkd.pipeline.training import (Data, DataResult, Distil, DistilledModel, DistilRecipe, Given, ModelResult,
                                    Scratch, ScratchAugmented, Teacher, TrainConfig, given_data)

__all__ = [
    "Android", "Arduino", "CArrays", "Cluster", "Codegen", "CompressedModel", "Context", "Convert", "Converted",
    "Data", "DataResult", "Distil", "DistilRecipe", "DistilledModel", "Emitted", "Given", "Guidance", "ModelResult", "Pipeline", "Prune", "QAT",
    "Report", "Scratch", "ScratchAugmented", "Stage", "Teacher", "TrainConfig", "Verified", "Verify", "given_data", "write_plots",
]
