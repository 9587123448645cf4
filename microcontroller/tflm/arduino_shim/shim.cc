// The shim's Serial and the Arduino program flow: setup() once, then loop() until the input is read.
#include "Arduino.h"

#include "platform.h"
#include TFKD_SHIM_INPUT

ShimSerial Serial;

int ShimSerial::available() const { return static_cast<int>(sizeof(kShimSerialInput) - 1 - read_position_); }

int ShimSerial::read() { return available() > 0 ? kShimSerialInput[read_position_++] : -1; }

void ShimSerial::print(const char* text) {
  while (*text && length_ < sizeof(line_) - 2) line_[length_++] = *text++;
}

void ShimSerial::print(unsigned long value) {
  char digits[12];
  int count = 0;
  do {
    digits[count++] = static_cast<char>('0' + value % 10u);
    value /= 10u;
  } while (value);
  char text[12];
  for (int i = 0; i < count; ++i) text[i] = digits[count - 1 - i];
  text[count] = '\0';
  print(text);
}

void ShimSerial::print(long value) {
  if (value < 0) {
    print("-");
    print(static_cast<unsigned long>(-value));
  } else {
    print(static_cast<unsigned long>(value));
  }
}

// Arduino's Print::print(double, digits): rounded to `digits` decimals.
void ShimSerial::print(double value, int digits) {
  if (value < 0) {
    print("-");
    value = -value;
  }
  double rounding = 0.5;
  for (int i = 0; i < digits; ++i) rounding /= 10.0;
  value += rounding;
  const unsigned long whole = static_cast<unsigned long>(value);
  print(whole);
  if (digits > 0) print(".");
  double rest = value - static_cast<double>(whole);
  for (int i = 0; i < digits; ++i) {
    rest *= 10.0;
    const int digit = static_cast<int>(rest);
    print(static_cast<unsigned long>(digit));
    rest -= digit;
  }
}

void ShimSerial::println() {
  line_[length_++] = '\n';
  line_[length_] = '\0';
  PlatformPrint(line_);
  length_ = 0;
}

int main() {
  setup();
  while (Serial.available() > 0) loop();
  return 0;
}
