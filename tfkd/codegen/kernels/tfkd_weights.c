/* tfkd_decode_weights: expands a filter stored compressed by tfkd codegen (tfkd/codegen/weight_storage.py)
 * into the int8 bytes its kernel reads, in a scratch region of the arena, just before the kernel runs.
 *
 * data holds, one after the other: the tables (tables x table_size int8 values, 4-bit formats only), a
 * table id per group of weights (TFKD_WEIGHTS_IDS4: two per byte, low nibble first; TFKD_WEIGHTS_IDS8: one
 * byte), the bitmap of nonzero weights (TFKD_WEIGHTS_SPARSE: bit i & 7 of byte i >> 3, 1 for nonzero) and
 * the values: int8, or two 4-bit table indices per byte, low nibble first (TFKD_WEIGHTS_TABLE4), of every
 * weight or, when sparse, of the nonzero ones. Weight i belongs to group (i / run) % period + period *
 * (i / block); block is a multiple of run and size a multiple of block.
 * Costs a few instructions per weight on every call; the kernels then run on the plain int8 bytes, so
 * their results do not depend on the storage. */
#include "tfkd_kernels.h"

static int32_t tfkd_table_id(const uint8_t *ids, uint32_t format, int32_t group) {
  if (format & TFKD_WEIGHTS_IDS4) return (ids[group >> 1] >> ((group & 1) << 2)) & 15;
  if (format & TFKD_WEIGHTS_IDS8) return ids[group];
  return 0;
}

/* Weight i of a sparse 4-bit run; returns the next value index. */
static int32_t tfkd_sparse_index(const int8_t *table, const uint8_t *bitmap, const uint8_t *values, int32_t i,
                                 int32_t k, int8_t *out) {
  if ((bitmap[i >> 3] >> (i & 7)) & 1u) {
    out[i] = table[(values[k >> 1] >> ((k & 1) << 2)) & 15];
    return k + 1;
  }
  out[i] = 0;
  return k;
}

/* Weights [i, end) of one run, all from one table; returns the next value index k. */
static int32_t tfkd_decode_run(uint32_t format, const int8_t *table, const uint8_t *bitmap,
                               const uint8_t *values, int32_t i, int32_t end, int32_t k, int8_t *out) {
  const int8_t *raw = (const int8_t *)values;
  const uint32_t sparse = format & TFKD_WEIGHTS_SPARSE, table4 = format & TFKD_WEIGHTS_TABLE4;
  if (!sparse && table4) {
    for (; i < end; ++i, ++k) out[i] = table[(values[k >> 1] >> ((k & 1) << 2)) & 15];
  } else if (!sparse) {
    for (; i < end; ++i, ++k) out[i] = raw[k];
  } else if (table4) {
    for (; i < end && (i & 7); ++i) k = tfkd_sparse_index(table, bitmap, values, i, k, out);
    for (; end - i >= 8; i += 8) { /* a whole bitmap byte: 8 weights */
      uint32_t mask = bitmap[i >> 3];
      int32_t b;
      for (b = 0; b < 8; ++b, mask >>= 1) {
        out[i + b] = (mask & 1u) ? table[(values[k >> 1] >> ((k & 1) << 2)) & 15] : 0;
        k += (int32_t)(mask & 1u);
      }
    }
    for (; i < end; ++i) k = tfkd_sparse_index(table, bitmap, values, i, k, out);
  } else {
    for (; i < end && (i & 7); ++i) out[i] = ((bitmap[i >> 3] >> (i & 7)) & 1u) ? raw[k++] : 0;
    for (; end - i >= 8; i += 8) {
      uint32_t mask = bitmap[i >> 3];
      int32_t b;
      for (b = 0; b < 8; ++b, mask >>= 1) out[i + b] = (mask & 1u) ? raw[k++] : 0;
    }
    for (; i < end; ++i) out[i] = ((bitmap[i >> 3] >> (i & 7)) & 1u) ? raw[k++] : 0;
  }
  return k;
}

void tfkd_decode_weights(const tfkd_weights_params *p, const uint8_t *data, int8_t *out) {
  const uint32_t format = p->format;
  const int8_t *tables = (const int8_t *)data;
  const int32_t groups = p->size / p->block * p->period;
  const uint8_t *ids = data + ((format & TFKD_WEIGHTS_TABLE4) ? (int32_t)p->tables * p->table_size : 0);
  const uint8_t *bitmap = ids + ((format & TFKD_WEIGHTS_IDS4) ? (groups + 1) / 2 : 0) +
                          ((format & TFKD_WEIGHTS_IDS8) ? groups : 0);
  const uint8_t *values = bitmap + ((format & TFKD_WEIGHTS_SPARSE) ? (p->size + 7) / 8 : 0);
  int32_t i = 0, k = 0, sub = 0, base = 0, in_block = 0;
  if (format & TFKD_WEIGHTS_TABLE4 && !(format & TFKD_WEIGHTS_SPARSE) && !(p->run & 1)) {
    /* The common clustered case: every run starts on a whole index byte, two weights per byte. */
    while (i < p->size) {
      const int8_t *table = tables + tfkd_table_id(ids, format, base + sub) * p->table_size;
      const uint8_t *end = values + p->run / 2;
      while (values != end) {
        const uint32_t pair = *values++;
        out[i] = table[pair & 15u];
        out[i + 1] = table[pair >> 4];
        i += 2;
      }
      in_block += p->run;
      if (in_block >= p->block) {
        in_block = 0;
        sub = 0;
        base += p->period;
      } else if (++sub == p->period) {
        sub = 0;
      }
    }
    return;
  }
  while (i < p->size) {
    const int8_t *table = tables + tfkd_table_id(ids, format, base + sub) * p->table_size;
    const int32_t end = p->size - i < p->run ? p->size : i + p->run;
    k = tfkd_decode_run(format, table, bitmap, values, i, end, k, out);
    i = end;
    in_block += p->run;
    if (in_block >= p->block) {
      in_block = 0;
      sub = 0;
      base += p->period;
    } else if (++sub == p->period) {
      sub = 0;
    }
  }
}
