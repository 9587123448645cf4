// Portable TensorFlow Lite Micro classifier for a model exported by tfkd.
//
// Consumes exactly the headers that `tfkd export` / `tfkd c-array` write into micro/:
//   model_data.h      g_model[], g_model_len
//   model_settings.h  input/output quantization, labels, kTensorArenaSize
//   model_ops.h       ModelOpResolver, RegisterModelOps()
//
// Reads one sample per line from stdin (a terminal on the host, the UART on a board
// whose C library retargets stdio): kInputElements float values separated by spaces
// or commas, in the same preprocessing as training (tfkd.data: channel-last, [0, 1]).
// For each sample it quantizes the input, invokes the model, dequantizes the output
// and prints the top class and its score.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "model_data.h"
#include "model_ops.h"
#include "model_settings.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"

// The loop below reads and writes int8 tensors: a float-I/O model belongs on Android, not here.
static_assert(std::is_same<ModelInputType, int8_t>::value && std::is_same<ModelOutputType, int8_t>::value,
              "expected the int8 model (model_int8.tflite) in model_data.cc");

namespace {

// TFLite Micro places every tensor in this arena; 16-byte alignment matches what the
// arena size was measured with (tfkd measures the smallest arena that allocates and invokes).
alignas(16) uint8_t tensor_arena[kTensorArenaSize];

// real_value = scale * (quantized - zero_point), so quantized = round(real / scale) + zero_point,
// saturated to the int8 range exactly as the converter's calibration assumes.
int8_t QuantizeInput(float value) {
  const long q = std::lround(value / kInputScale) + kInputZeroPoint;
  return static_cast<int8_t>(q < -128 ? -128 : (q > 127 ? 127 : q));
}

float DequantizeOutput(int8_t value) { return kOutputScale * (static_cast<int>(value) - kOutputZeroPoint); }

// Parses up to kInputElements floats from one line; returns how many it found.
int ParseSample(char* line, float* values) {
  int count = 0;
  for (char* token = std::strtok(line, " ,;\t\r\n"); token != nullptr && count < kInputElements;
       token = std::strtok(nullptr, " ,;\t\r\n")) {
    values[count++] = std::strtof(token, nullptr);
  }
  return count;
}

}  // namespace

int main() {
  tflite::InitializeTarget();

  // The flatbuffer is read in place from flash: no copy of the model in RAM.
  const tflite::Model* model = tflite::GetModel(g_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    std::printf("model schema %lu, runtime expects %d\n", static_cast<unsigned long>(model->version()),
                TFLITE_SCHEMA_VERSION);
    return 1;
  }

  // Only the model's operators are linked in: the resolver holds exactly kModelOpCount kernels.
  static ModelOpResolver resolver;
  if (RegisterModelOps(resolver) != kTfLiteOk) {
    std::printf("registering the model's %u operators failed\n", kModelOpCount);
    return 1;
  }

  static tflite::MicroInterpreter interpreter(model, resolver, tensor_arena, kTensorArenaSize);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    std::printf("AllocateTensors failed with a %d-byte arena\n", kTensorArenaSize);
    return 1;
  }
  TfLiteTensor* input = interpreter.input(0);
  TfLiteTensor* output = interpreter.output(0);
  if (input->type != kTfLiteInt8 || output->type != kTfLiteInt8 || input->bytes != kInputElements ||
      output->bytes != kOutputElements) {
    std::printf("model tensors differ from model_settings.h: regenerate the headers together\n");
    return 1;
  }
  std::printf("model ready: %u bytes, arena %d of %d bytes used, %d inputs, %d classes\n", g_model_len,
              static_cast<int>(interpreter.arena_used_bytes()), kTensorArenaSize, kInputElements, kCategoryCount);

  static char line[16 * kInputElements + 64];  // ample for kInputElements printed floats
  static float sample[kInputElements];
  while (std::fgets(line, sizeof(line), stdin) != nullptr) {
    const int found = ParseSample(line, sample);
    if (found == 0) continue;  // blank line
    if (found != kInputElements) {
      std::printf("expected %d values, got %d\n", kInputElements, found);
      continue;
    }
    for (int i = 0; i < kInputElements; ++i) input->data.int8[i] = QuantizeInput(sample[i]);

    if (interpreter.Invoke() != kTfLiteOk) {
      std::printf("Invoke failed\n");
      return 1;
    }

    int top = 0;
    for (int i = 1; i < kCategoryCount; ++i) {
      if (output->data.int8[i] > output->data.int8[top]) top = i;
    }
    // The model outputs logits; the score is the dequantized logit of the top class.
    std::printf("class %d (%s), score %.3f\n", top, kCategoryLabels[top], DequantizeOutput(output->data.int8[top]));
  }
  return 0;
}
