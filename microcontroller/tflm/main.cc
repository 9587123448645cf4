// TensorFlow Lite Micro firmware for a model exported by tfkd: runs built-in int8 inputs and prints
// every output, the arena TFLite Micro used and, on the Cortex-M4, what inference cost.
//
// Consumes exactly the files that `tfkd export` / `tfkd c-array` write into micro/:
//   model_data.h      g_model[], g_model_len
//   model_settings.h  input/output shapes and quantization, kTensorArenaSize, kTensorArenaMeasured
//   model_ops.h       ModelOpResolver, RegisterModelOps()
// and, when TFKD_SAMPLES_HEADER names one, the inputs written by tfkd.export.c_arrays.write_samples_header
// (kSampleCount rows of kInputElements int8 values); without it, one input at the zero point.
//
// Output, one line each (the tests and tools/bench_tflm_peer.py parse it):
//   out <index> <output bytes as two's-complement hex>
//   arena_used <bytes>  arena_size <bytes>  arena_estimate <bytes>
//   model_align <address of g_model mod 16>  arena_align <address of the arena mod 16>
//   stack <bytes>  ticks <total> samples <count>  calibration <ticks per 2000000 instructions>
// Built with -DTFKD_RECORD_ARENA (make EXTRA_FLAGS=-DTFKD_RECORD_ARENA), it runs TFLM's
// RecordingMicroInterpreter and also prints where the arena went (its recording adds a little tail):
//   arena_head <non-persistent bytes: the planned tensors and kernel scratch buffers>
//   arena_tail <persistent bytes>, then arena_<kind> <bytes> for each recorded kind of tail allocation
// An error prints one "error: ..." line and main returns non-zero (QEMU then exits with 1).
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "model_data.h"
#include "model_ops.h"
#include "model_settings.h"
#include "platform.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#ifdef TFKD_RECORD_ARENA
#include "tensorflow/lite/micro/recording_micro_interpreter.h"
#endif
#include "tensorflow/lite/schema/schema_generated.h"

#ifdef TFKD_SAMPLES_HEADER
#include TFKD_SAMPLES_HEADER
#endif

static_assert(std::is_same<ModelInputType, int8_t>::value && std::is_same<ModelOutputType, int8_t>::value,
              "expected the int8 model (model_int8.tflite) in model_data.cc");

// The Makefile's ARENA_SIZE overrides the generated size, e.g. to try a smaller budget.
#ifndef TFKD_ARENA_SIZE
#define TFKD_ARENA_SIZE kTensorArenaSize
#endif

namespace {

#ifndef TFKD_SAMPLES_HEADER
constexpr int kSampleCount = 1;
struct ZeroPointSample {
  int8_t values[kInputElements];
  constexpr ZeroPointSample() : values() {
    for (int i = 0; i < kInputElements; ++i) values[i] = static_cast<int8_t>(kInputZeroPoint);
  }
};
constexpr ZeroPointSample kZeroPointSample;
const int8_t (*const kSamples)[kInputElements] = &kZeroPointSample.values;
#endif

// TFLite Micro places every tensor and its own bookkeeping in this arena; 16 bytes is the alignment
// its allocator and the CMSIS-NN kernels expect.
alignas(16) uint8_t tensor_arena[TFKD_ARENA_SIZE];

// printf would add several kilobytes of flash to the Cortex-M4 image and blur its size; lines are
// assembled by hand instead.
class Line {
 public:
  Line& Text(const char* text) {
    while (*text && length_ < kCapacity) buffer_[length_++] = *text++;
    return *this;
  }
  Line& Number(uint32_t value) {
    char digits[10];
    int count = 0;
    do {
      digits[count++] = static_cast<char>('0' + value % 10u);
      value /= 10u;
    } while (value);
    while (count && length_ < kCapacity) buffer_[length_++] = digits[--count];
    return *this;
  }
  Line& Hex(uint8_t value) {
    static const char kHex[] = "0123456789abcdef";
    if (length_ + 2 <= kCapacity) {
      buffer_[length_++] = kHex[value >> 4];
      buffer_[length_++] = kHex[value & 15u];
    }
    return *this;
  }
  void Print() {
    buffer_[length_++] = '\n';
    buffer_[length_] = '\0';
    PlatformPrint(buffer_);
    length_ = 0;
  }

 private:
  static constexpr int kCapacity = 64 + 2 * kOutputElements;
  char buffer_[kCapacity + 2];
  int length_ = 0;
};

int Fail(const char* what, uint32_t value = 0) {
  Line line;
  line.Text("error: ").Text(what);
  if (value) line.Number(value);
  line.Print();
  return 1;
}

void PrintValue(const char* key, uint32_t value) {
  Line line;
  line.Text(key).Text(" ").Number(value).Print();
}

}  // namespace

int main() {
  // The flatbuffer is read in place from flash: no copy of the model in RAM.
  const tflite::Model* model = tflite::GetModel(g_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) return Fail("model schema version differs from the runtime's: ", model->version());

  // Only the model's operators are linked in: the resolver holds exactly kModelOpCount kernels.
  static ModelOpResolver resolver;
  if (RegisterModelOps(resolver) != kTfLiteOk) return Fail("registering the model's operators failed");

#ifdef TFKD_RECORD_ARENA
  static tflite::RecordingMicroInterpreter interpreter(model, resolver, tensor_arena, sizeof(tensor_arena));
#else
  static tflite::MicroInterpreter interpreter(model, resolver, tensor_arena, sizeof(tensor_arena));
#endif
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    // Too small an arena or an operator missing from the resolver; TFLite Micro has said which
    // (except in a release library, which carries no messages).
    Line line;
    line.Text("error: AllocateTensors failed with a ").Number(sizeof(tensor_arena)).Text("-byte arena").Print();
    return 1;
  }
  TfLiteTensor* input = interpreter.input(0);
  TfLiteTensor* output = interpreter.output(0);
  if (input->type != kTfLiteInt8 || output->type != kTfLiteInt8 || input->bytes != kInputElements ||
      output->bytes != kOutputElements) {
    return Fail("the model's tensors differ from model_settings.h: regenerate the headers together");
  }

  const uint32_t calibration = PlatformCalibrationTicks();
  uint32_t total_ticks = 0;
  uint32_t deepest_stack = 0;
  Line line;
  for (int i = 0; i < kSampleCount; ++i) {
    std::memcpy(input->data.int8, kSamples[i], kInputElements);
    const uintptr_t stack_top = PLATFORM_STACK_POINTER();
    PlatformPaintStack(stack_top);
    const uint32_t start = PlatformTicks();
    const TfLiteStatus status = interpreter.Invoke();
    const uint32_t stop = PlatformTicks();
    if (status != kTfLiteOk) return Fail("Invoke failed on input ", static_cast<uint32_t>(i));
    total_ticks += PlatformTicksElapsed(start, stop);
    const uint32_t stack = PlatformStackUsed(stack_top);
    if (stack > deepest_stack) deepest_stack = stack;

    line.Text("out ").Number(static_cast<uint32_t>(i)).Text(" ");
    for (int k = 0; k < kOutputElements; ++k) line.Hex(static_cast<uint8_t>(output->data.int8[k]));
    line.Print();
  }
  PrintValue("arena_used", static_cast<uint32_t>(interpreter.arena_used_bytes()));
  PrintValue("arena_size", sizeof(tensor_arena));
  PrintValue("arena_estimate", kTensorArenaMeasured);
  PrintValue("model_align", static_cast<uint32_t>(reinterpret_cast<uintptr_t>(g_model) % 16u));
  PrintValue("arena_align", static_cast<uint32_t>(reinterpret_cast<uintptr_t>(tensor_arena) % 16u));
  PrintValue("stack", deepest_stack);
  line.Text("ticks ").Number(total_ticks).Text(" samples ").Number(static_cast<uint32_t>(kSampleCount)).Print();
  PrintValue("calibration", calibration);
#ifdef TFKD_RECORD_ARENA
  const tflite::RecordingMicroAllocator& allocator = interpreter.GetMicroAllocator();
  PrintValue("arena_head", static_cast<uint32_t>(allocator.GetSimpleMemoryAllocator()->GetNonPersistentUsedBytes()));
  PrintValue("arena_tail", static_cast<uint32_t>(allocator.GetSimpleMemoryAllocator()->GetPersistentUsedBytes()));
  using tflite::RecordedAllocationType;
  const struct {
    const char* key;
    RecordedAllocationType type;
  } kRecorded[] = {
      {"arena_eval_tensors", RecordedAllocationType::kTfLiteEvalTensorData},
      {"arena_persistent_tensors", RecordedAllocationType::kPersistentTfLiteTensorData},
      {"arena_quantization", RecordedAllocationType::kPersistentTfLiteTensorQuantizationData},
      {"arena_persistent_buffers", RecordedAllocationType::kPersistentBufferData},
      {"arena_node_registrations", RecordedAllocationType::kNodeAndRegistrationArray},
      {"arena_op_data", RecordedAllocationType::kOpData},
  };
  for (const auto& recorded : kRecorded) {
    PrintValue(recorded.key, static_cast<uint32_t>(allocator.GetRecordedAllocation(recorded.type).used_bytes));
  }
#endif
  return 0;
}
