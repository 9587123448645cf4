"""Writes colab/0*.ipynb from the cell sources below, without outputs.

The notebooks are generated so that their code stays reviewable as plain Python and
their committed form never carries outputs. Run from the repository root after editing:

    python colab/generate.py [--repo OWNER/NAME]

``--repo`` is the GitHub repository the "Open in Colab" badges point at.
"""

import argparse
import os

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_REPOSITORY = "tfkd/tfkd"

INSTALL = '''\
# Installs tfkd. From a checkout of the repository (the notebook runs in colab/) it installs that
# checkout; on Colab it installs the released package. TF_USE_LEGACY_KERAS selects Keras 2
# (tf_keras), which TF-MOT needs; it must be set before TensorFlow is imported.
import os

if INSTALL:
    if os.path.exists("../pyproject.toml"):
        %pip install -q -e ..
    else:
        %pip install -q tfkd
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")'''

COMMON_IMPORTS = '''\
import numpy as np
import tf_keras
from IPython.display import Image, display

import tfkd
from tfkd import recipes
from tfkd.report import plots

tf_keras.utils.set_random_seed(SEED)
(x_train, y_train), (x_test, y_test), class_names = tfkd.data.load(DATASET)
num_classes = len(class_names)
print(f"{DATASET}: {len(x_train)} training and {len(x_test)} test samples of shape {x_train.shape[1:]}, "
      f"{num_classes} classes")
os.makedirs(OUT, exist_ok=True)

def sparse_ce():
    return tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

def train_teacher():
    teacher = tfkd.models.for_data(x_train, num_classes, "teacher")
    teacher.compile(tf_keras.optimizers.Adam(1e-3), sparse_ce(), ["accuracy"])
    history = teacher.fit(x_train, y_train, epochs=TEACHER_EPOCHS, batch_size=32,
                          validation_data=(x_test, y_test), verbose=2)
    return teacher, history

def accuracy(model):
    return float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=-1) == y_test))'''


def badge(repository, name):
    url = f"https://colab.research.google.com/github/{repository}/blob/main/colab/{name}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def parameters(text):
    cell = nbformat.v4.new_code_cell(text)
    cell.metadata["tags"] = ["parameters"]
    return cell


NOTEBOOKS = {
    "01_distill.ipynb": [
        ("md", "# 01 · Distil a teacher into a tiny student\n\n{badge}\n\n"
               "A wide CNN teacher is trained on the embedded `digits` dataset (8x8 images, no download); a "
               "2k-parameter student then learns from the teacher's softened outputs with `tfkd.Distiller`, a "
               "`tf_keras.Model` trained with plain `fit`. A second student trained on the labels alone is the "
               "baseline.\n\nOn Colab, run the install cell, then *Runtime > Restart session* if it asks, and run "
               "all."),
        ("parameters", "INSTALL = True  # False when tfkd is installed already (the tests set it)\n"
                       "DATASET = \"digits\"\nTEACHER_EPOCHS = 12\nSTUDENT_EPOCHS = 40\n"
                       "TEMPERATURE = 4.0  # softens the teacher's distribution\n"
                       "ALPHA = 0.1  # weight of the hard-label loss; 1 - ALPHA weighs distillation\n"
                       "SEED = 0\nOUT = \"out_01\""),
        ("code", INSTALL),
        ("code", COMMON_IMPORTS),
        ("md", "## The teacher\n\nThe reference teacher for the data (`tfkd.models.for_data`), trained on labels."),
        ("code", "teacher, teacher_history = train_teacher()\nprint(f\"teacher test accuracy: {accuracy(teacher):.4f}, "
                 "{teacher.count_params():,} parameters\")"),
        ("md", "## What the student learns from: soft targets\n\nDividing the teacher's logits by a temperature "
               "*T* before the softmax flattens the distribution. At *T = 1* nearly all mass sits on the top class; "
               "at higher *T* the teacher also says which wrong classes look alike (Hinton et al. 2015)."),
        ("code", "sample = 0\nlogits = teacher.predict(x_test[sample:sample + 1], verbose=0)[0]\n"
                 "print(f\"sample {sample}: true class {class_names[y_test[sample]]}\")\n"
                 "display(Image(plots.soft_targets(logits, [1, 2, TEMPERATURE, 8], class_names, "
                 "os.path.join(OUT, \"soft_targets.png\"))))"),
        ("md", "## The baseline: the student on labels alone"),
        ("code", "tf_keras.utils.set_random_seed(SEED)\n"
                 "scratch = tfkd.models.for_data(x_train, num_classes, \"student\")\n"
                 "scratch.compile(tf_keras.optimizers.Adam(1e-2), sparse_ce(), [\"accuracy\"])\n"
                 "scratch_history = scratch.fit(x_train, y_train, epochs=STUDENT_EPOCHS, batch_size=32,\n"
                 "                              validation_data=(x_test, y_test), verbose=2)\n"
                 "print(f\"student from scratch: {accuracy(scratch):.4f}, {scratch.count_params():,} parameters\")"),
        ("md", "## The distilled student\n\nThe same student and schedule, taught by the teacher. `loss` is the "
               "hard-label loss; `ALPHA` weighs it and `1 - ALPHA` the distillation term (soft targets by default)."),
        ("code", "tf_keras.utils.set_random_seed(SEED)\n"
                 "distiller = tfkd.Distiller(\n"
                 "    student=tfkd.models.for_data(x_train, num_classes, \"student\"),\n"
                 "    teacher=teacher,\n    temperature=TEMPERATURE,\n    alpha=ALPHA,\n)\n"
                 "distiller.compile(optimizer=tf_keras.optimizers.Adam(1e-2), loss=sparse_ce(), "
                 "metrics=[\"accuracy\"])\n"
                 "distilled_history = distiller.fit(x_train, y_train, epochs=STUDENT_EPOCHS, batch_size=32,\n"
                 "                                  validation_data=(x_test, y_test), verbose=2)\n"
                 "student = distiller.student  # a plain tf_keras model: no teacher inside\n"
                 "print(f\"distilled student: {accuracy(student):.4f}\")"),
        ("md", "## Training curves"),
        ("code", "display(Image(plots.training_curves(\n"
                 "    {\"teacher\": teacher_history.history, \"student_scratch\": scratch_history.history,\n"
                 "     \"student_distilled\": distilled_history.history},\n"
                 "    os.path.join(OUT, \"training_curves.png\"))))"),
        ("code", "student.save(os.path.join(OUT, \"student.keras\"))\n"
                 "teacher.save(os.path.join(OUT, \"teacher.keras\"))\nprint(sorted(os.listdir(OUT)))"),
        ("md", "Next: `02_compress.ipynb` prunes, clusters and quantizes the student with the teacher's help."),
    ],
    "02_compress.ipynb": [
        ("md", "# 02 · Compress the student under the teacher's guidance\n\n{badge}\n\n"
               "Pruning, weight clustering and quantization-aware training with TensorFlow Model Optimization, "
               "each fine-tuned through `tfkd.Distiller` so the teacher keeps guiding the student. The ladder at "
               "the end shows what each step costs in accuracy and saves in size."),
        ("parameters", "INSTALL = True  # False when tfkd is installed already (the tests set it)\n"
                       "DATASET = \"digits\"\nTEACHER_EPOCHS = 12\nSTUDENT_EPOCHS = 40\n"
                       "PRUNE_EPOCHS = 10\nCLUSTER_EPOCHS = 4\nQAT_EPOCHS = 4\n"
                       "TARGET_SPARSITY = 0.75\nN_CLUSTERS = 16\nSEED = 0\nOUT = \"out_02\""),
        ("code", INSTALL),
        ("code", COMMON_IMPORTS),
        ("md", "## Teacher and distilled student\n\nAs in notebook 01 (`tfkd.recipes.distil` is the same Distiller "
               "run)."),
        ("code", "teacher, _ = train_teacher()\n"
                 "recipe = recipes.Recipe(student_epochs=STUDENT_EPOCHS)\n"
                 "distiller, _ = recipes.distil(teacher, x_train, y_train, num_classes, recipe, SEED)\n"
                 "student = distiller.student\n"
                 "print(f\"teacher {accuracy(teacher):.4f}, distilled student {accuracy(student):.4f}\")"),
        ("md", "## Pruning\n\nThe smallest weights of each kernel become zero while the student fine-tunes "
               "against the teacher; sparsity ramps up polynomially and the last quarter of the steps trains at the "
               "target. Zeros compress: the size below is the gzip -9 size of the weights."),
        ("code", "pruned = tfkd.compress.prune(student, (x_train, y_train), teacher=teacher,\n"
                 "                              target_sparsity=TARGET_SPARSITY, epochs=PRUNE_EPOCHS, verbose=0)\n"
                 "pruned_summary = tfkd.compress.summary(pruned)\nprint(pruned_summary)\n"
                 "display(Image(plots.layer_sparsity(pruned_summary, os.path.join(OUT, \"layer_sparsity.png\"))))"),
        ("md", "## Clustering\n\nEach kernel keeps only `N_CLUSTERS` distinct values (one of them zero, so the "
               "pruned zeros stay)."),
        ("code", "clustered = tfkd.compress.cluster(pruned, (x_train, y_train), teacher=teacher, n_clusters=N_CLUSTERS,\n"
                 "                                  epochs=CLUSTER_EPOCHS, verbose=0)\n"
                 "print(f\"at most {tfkd.compress.summary(clustered).max_unique_values} distinct values per kernel\")"),
        ("md", "## Quantization-aware training\n\nFake-quantization learns the int8 ranges; the collaborative scheme "
               "(`tfkd.compress.choose_scheme`) keeps the zeros and the clusters."),
        ("code", "qat = tfkd.compress.quantize(clustered, (x_train, y_train), teacher=teacher, epochs=QAT_EPOCHS,\n"
                 "                             verbose=0)\n"
                 "print(f\"scheme {tfkd.compress.choose_scheme(clustered)!r}, QAT accuracy {accuracy(qat):.4f}\")\n"
                 "int8_bytes = tfkd.export.to_tflite(qat, x_train, io=\"int8\")\n"
                 "int8 = tfkd.export.verify(int8_bytes, x_test, y_test)\n"
                 "print(f\"int8 on TFLite Micro: {int8['tflm_accuracy']:.4f}, {len(int8_bytes):,} bytes\")"),
        ("md", "## The accuracy/size ladder\n\nSize is the gzip -9 size of the float32 weights (of the flatbuffer "
               "for int8): the storage that pruning and clustering actually save. Points on the red line are "
               "Pareto-optimal: no other stage is both smaller and more accurate."),
        ("code", "import gzip\n\n"
                 "def gzip_bytes(model):\n"
                 "    weights = b\"\".join(np.asarray(w, np.float32).tobytes() for w in model.get_weights())\n"
                 "    return len(gzip.compress(weights, 9))\n\n"
                 "stages = [\n"
                 "    {\"name\": \"teacher fp32\", \"bytes\": gzip_bytes(teacher), \"accuracy\": accuracy(teacher)},\n"
                 "    {\"name\": \"student fp32\", \"bytes\": gzip_bytes(student), \"accuracy\": accuracy(student)},\n"
                 "    {\"name\": \"pruned\", \"bytes\": gzip_bytes(pruned), \"accuracy\": accuracy(pruned)},\n"
                 "    {\"name\": \"clustered\", \"bytes\": gzip_bytes(clustered), \"accuracy\": accuracy(clustered)},\n"
                 "    {\"name\": \"QAT\", \"bytes\": gzip_bytes(qat), \"accuracy\": accuracy(qat)},\n"
                 "    {\"name\": \"int8\", \"bytes\": len(gzip.compress(int8_bytes, 9)), "
                 "\"accuracy\": int8[\"tflm_accuracy\"]},\n]\n"
                 "for stage in stages:\n"
                 "    print(f\"{stage['name']:>13}: {stage['accuracy']:.4f}, {stage['bytes']:,} bytes gzipped\")\n"
                 "display(Image(plots.accuracy_vs_size(stages, os.path.join(OUT, \"accuracy_vs_size.png\"))))"),
        ("code", "qat.save(os.path.join(OUT, \"student_qat.keras\"))  # reload with tfkd.load_model\n"
                 "print(sorted(os.listdir(OUT)))"),
        ("md", "Next: `03_deploy.ipynb` turns a student into int8 TFLite, firmware sources and the Android model."),
    ],
    "03_deploy.ipynb": [
        ("md", "# 03 · Deploy: int8 TFLite, TFLite Micro, C arrays, Android\n\n{badge}\n\n"
               "A distilled student becomes a full-int8 flatbuffer, checked on LiteRT and on the real TFLite Micro "
               "kernels, then C++ sources for firmware and a float-input model for Android."),
        ("parameters", "INSTALL = True  # False when tfkd is installed already (the tests set it)\n"
                       "DATASET = \"digits\"\nTEACHER_EPOCHS = 12\nSTUDENT_EPOCHS = 40\n"
                       "REPRESENTATIVE_SAMPLES = 200  # training samples that calibrate the int8 ranges\n"
                       "SEED = 0\nOUT = \"out_03\""),
        ("code", INSTALL),
        ("code", COMMON_IMPORTS),
        ("code", "teacher, _ = train_teacher()\n"
                 "recipe = recipes.Recipe(student_epochs=STUDENT_EPOCHS)\n"
                 "student = recipes.distil(teacher, x_train, y_train, num_classes, recipe, SEED)[0].student\n"
                 "print(f\"distilled student (float): {accuracy(student):.4f}\")"),
        ("md", "## Full-int8 conversion\n\n`io=\"int8\"`: int8 input and output, for microcontrollers. The "
               "representative samples calibrate the activation ranges."),
        ("code", "int8_bytes = tfkd.export.to_tflite(student, x_train, io=\"int8\", num_samples=REPRESENTATIVE_SAMPLES)\n"
                 "info = tfkd.export.describe(int8_bytes)\n"
                 "print(f\"{len(int8_bytes):,} bytes, ops {info.op_names}, measured arena {info.arena_bytes:,} bytes\")"),
        ("md", "## Verification on LiteRT and TFLite Micro\n\nThe same test set runs through LiteRT's reference "
               "kernels and through TFLite Micro; they should agree to within 1 LSB."),
        ("code", "result = tfkd.export.verify(int8_bytes, x_test, y_test, reference=student)\n"
                 "for key in (\"litert_accuracy\", \"tflm_accuracy\", \"float_accuracy\", \"litert_tflm_max_lsb\",\n"
                 "            \"litert_tflm_top1_agreement\", \"float_agreement\", \"tflm_arena_size\"):\n"
                 "    print(f\"{key:>28}: {result[key]}\")"),
        ("md", "## C arrays for firmware\n\n`model_data.h/.cc` (the flatbuffer), `model_settings.h` (shapes, "
               "quantization, labels, `kTensorArenaSize`) and `model_ops.h` (exactly the model's operators). "
               "`microcontroller/` in the repository has the TFLite Micro `main.cc`, an Arduino sketch and a CMake "
               "project that use them; `tfkd.export.arduino.write_arduino_library` packs them as an Arduino "
               "library zip."),
        ("code", "paths = tfkd.export.write_c_arrays(int8_bytes, os.path.join(OUT, \"micro\"), labels=class_names)\n"
                 "print(open(paths[\"model_settings.h\"]).read())\n"
                 "from tfkd.export.arduino import write_arduino_library\n"
                 "print(write_arduino_library(int8_bytes, os.path.join(OUT, \"tfkd_model.zip\"), labels=class_names,\n"
                 "                            arena_bytes=info.arena_bytes))"),
        ("md", "## The Android model\n\n`io=\"float\"`: float input and output around the same int8 graph, so "
               "an app feeds the preprocessed floats and reads scores without handling quantization. Ship it with "
               "`labels.txt` (the README has the Kotlin lines)."),
        ("code", "from ai_edge_litert.interpreter import Interpreter\n\nfrom tfkd.files import atomic_write_bytes, atomic_write_text\n\n"
                 "float_io_bytes = tfkd.export.to_tflite(student, x_train, io=\"float\", num_samples=REPRESENTATIVE_SAMPLES)\n"
                 "atomic_write_bytes(os.path.join(OUT, \"model_float_io.tflite\"), float_io_bytes)\n"
                 "atomic_write_bytes(os.path.join(OUT, \"model_int8.tflite\"), int8_bytes)\n"
                 "atomic_write_text(os.path.join(OUT, \"labels.txt\"), \"\\n\".join(class_names) + \"\\n\")\n"
                 "android = Interpreter(model_content=float_io_bytes)\nandroid.allocate_tensors()\n"
                 "predictions = []\nfor sample in x_test:\n"
                 "    android.set_tensor(android.get_input_details()[0][\"index\"], sample[None].astype(np.float32))\n"
                 "    android.invoke()\n"
                 "    predictions.append(int(np.argmax(android.get_tensor(android.get_output_details()[0][\"index\"]))))\n"
                 "predictions = np.array(predictions)\n"
                 "print(f\"float-I/O model on LiteRT: {np.mean(predictions == y_test):.4f} "
                 "(int8 on TFLite Micro: {result['tflm_accuracy']:.4f})\")\n"
                 "display(Image(plots.confusion_matrix(y_test, predictions, class_names,\n"
                 "                                     os.path.join(OUT, \"confusion_matrix.png\"),\n"
                 "                                     title=\"Confusion matrix of the float-I/O int8 model\")))\n"
                 "print(sorted(os.listdir(OUT)))"),
    ],
}


def build(cells, repository, name):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    for kind, text in cells:
        if kind == "md":
            notebook.cells.append(nbformat.v4.new_markdown_cell(text.replace("{badge}", badge(repository, name))))
        elif kind == "parameters":
            notebook.cells.append(parameters(text))
        else:
            notebook.cells.append(nbformat.v4.new_code_cell(text))
    # Stable cell ids keep regenerated notebooks byte-identical when nothing changed.
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index:02d}"
    return notebook


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=DEFAULT_REPOSITORY, help="GitHub OWNER/NAME for the Colab badges")
    args = parser.parse_args()
    for name, cells in NOTEBOOKS.items():
        path = os.path.join(HERE, name)
        notebook = build(cells, args.repo, name)
        nbformat.validate(notebook)
        text = nbformat.writes(notebook) + "\n"
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
        print(path)


if __name__ == "__main__":
    main()
