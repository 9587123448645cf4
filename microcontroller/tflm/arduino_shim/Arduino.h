// A stand-in for the Arduino core, just large enough to build tfkd's sketch
// (microcontroller/arduino/tfkd_classifier) for a bare Cortex-M4 and run it in QEMU: the real
// Arduino toolchain and core are not available there. Serial reads a fixed text (kShimSerialInput,
// from the header named by TFKD_SHIM_INPUT) and writes whole lines through platform.h.
#ifndef TFKD_ARDUINO_SHIM_H_
#define TFKD_ARDUINO_SHIM_H_

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

class ShimSerial {
 public:
  void begin(unsigned long) {}
  explicit operator bool() const { return true; }
  int available() const;
  int read();
  void print(const char* text);
  void print(int value) { print(static_cast<long>(value)); }
  void print(unsigned int value) { print(static_cast<unsigned long>(value)); }
  void print(long value);
  void print(unsigned long value);
  void print(double value, int digits = 2);
  template <typename T>
  void println(T value) {
    print(value);
    println();
  }
  void println(double value, int digits) {
    print(value, digits);
    println();
  }
  void println();

 private:
  char line_[256] = {};
  unsigned length_ = 0;
  unsigned read_position_ = 0;
};

extern ShimSerial Serial;

void setup();
void loop();

#endif  // TFKD_ARDUINO_SHIM_H_
