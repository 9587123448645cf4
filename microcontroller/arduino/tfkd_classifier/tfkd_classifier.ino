// tfkd_classifier: runs a tfkd model with the TensorFlow Lite Micro Arduino library.
//
// Needs two libraries (Sketch > Include Library > Add .ZIP Library...):
//   - Arduino_TensorFlowLite (https://github.com/tensorflow/tflite-micro-arduino-examples)
//   - the model library written by `tfkd export MODEL ... --arduino` (tfkd_model.zip)
//
// Type one sample per line into the Serial Monitor (115200 baud, newline ending):
// kInputElements numbers separated by spaces or commas, preprocessed as in training.
// The sketch quantizes it, invokes the model, dequantizes the output and prints the
// top class and its score.

#include <TensorFlowLite.h>

#include "model_data.h"
#include "model_ops.h"
#include "model_settings.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {

// TFLite Micro places every tensor here; kTensorArenaSize is the measured arena plus margin.
alignas(16) uint8_t tensor_arena[kTensorArenaSize];

tflite::MicroInterpreter* interpreter = nullptr;
// Room for kInputElements numbers as typed (sign, digits, point, separator).
char line[16 * kInputElements + 64];
size_t line_length = 0;
float sample[kInputElements];

int8_t QuantizeInput(float value) {
  const long q = lroundf(value / kInputScale) + kInputZeroPoint;
  return static_cast<int8_t>(q < -128 ? -128 : (q > 127 ? 127 : q));
}

float DequantizeOutput(int8_t value) { return kOutputScale * (static_cast<int>(value) - kOutputZeroPoint); }

int ParseSample(char* text, float* values) {
  int count = 0;
  for (char* token = strtok(text, " ,;\t\r\n"); token != nullptr && count < kInputElements;
       token = strtok(nullptr, " ,;\t\r\n")) {
    values[count++] = strtof(token, nullptr);
  }
  return count;
}

void Classify() {
  const int found = ParseSample(line, sample);
  if (found == 0) return;
  if (found != kInputElements) {
    Serial.print("expected ");
    Serial.print(kInputElements);
    Serial.print(" values, got ");
    Serial.println(found);
    return;
  }
  TfLiteTensor* input = interpreter->input(0);
  for (int i = 0; i < kInputElements; ++i) input->data.int8[i] = QuantizeInput(sample[i]);
  if (interpreter->Invoke() != kTfLiteOk) {
    Serial.println("Invoke failed");
    return;
  }
  const TfLiteTensor* output = interpreter->output(0);
  int top = 0;
  for (int i = 1; i < kCategoryCount; ++i) {
    if (output->data.int8[i] > output->data.int8[top]) top = i;
  }
  Serial.print("class ");
  Serial.print(top);
  Serial.print(" (");
  Serial.print(kCategoryLabels[top]);
  Serial.print("), score ");
  Serial.println(DequantizeOutput(output->data.int8[top]), 3);
}

}  // namespace

void setup() {
  Serial.begin(115200);
  while (!Serial) {
  }
  tflite::InitializeTarget();

  // The flatbuffer stays in flash and is read in place.
  const tflite::Model* model = tflite::GetModel(g_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    Serial.println("model schema version differs from the TensorFlow Lite Micro library's");
    return;
  }
  // Only the model's operators: less flash than AllOpsResolver.
  static ModelOpResolver resolver;
  if (RegisterModelOps(resolver) != kTfLiteOk) {
    Serial.println("registering the model's operators failed");
    return;
  }
  static tflite::MicroInterpreter static_interpreter(model, resolver, tensor_arena, kTensorArenaSize);
  if (static_interpreter.AllocateTensors() != kTfLiteOk) {
    Serial.println("AllocateTensors failed: is kTensorArenaSize from the same export as the model?");
    return;
  }
  interpreter = &static_interpreter;
  Serial.print("model ready: ");
  Serial.print(g_model_len);
  Serial.print(" bytes, arena ");
  Serial.print(kTensorArenaSize);
  Serial.print(" bytes; send ");
  Serial.print(kInputElements);
  Serial.println(" values per line");
}

void loop() {
  if (interpreter == nullptr) return;  // set-up failed and said why
  while (Serial.available() > 0) {
    const char c = static_cast<char>(Serial.read());
    if (c == '\n' || line_length == sizeof(line) - 1) {
      line[line_length] = '\0';
      Classify();
      line_length = 0;
    } else {
      line[line_length++] = c;
    }
  }
}
