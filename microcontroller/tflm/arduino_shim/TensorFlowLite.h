// Stand-in for the Arduino_TensorFlowLite library's umbrella header: the sketch includes TFLite
// Micro's own headers, which come from TFLM_DIR here.
#ifndef TFKD_TENSORFLOWLITE_SHIM_H_
#define TFKD_TENSORFLOWLITE_SHIM_H_
#endif
