/* tfkd_decode_weights: expands a filter stored compressed by tfkd codegen (tfkd/codegen/weight_storage.py)
 * into the int8 bytes its kernel reads, in a scratch region of the arena, just before the kernel runs.
 *
 * data holds, one after the other: the tables (tables x table_size int8 values, 4-bit formats only), a
 * table id per group of weights (1, 2, 4 or 8 bits each by the TFKD_WEIGHTS_IDS* flag, low bits of a byte
 * first; none with one table), the bitmap of nonzero weights (TFKD_WEIGHTS_SPARSE: bit i & 7 of byte
 * i >> 3, 1 for nonzero) and the values: int8, or two 4-bit table indices per byte, low nibble first
 * (TFKD_WEIGHTS_TABLE4), of every weight or, when sparse, of the nonzero ones. Weight i belongs to group
 * (i / run) % period + period * (i / block); block is a multiple of run and size a multiple of block.
 * Costs a few instructions per weight on every call; the kernels then run on the plain int8 bytes, so
 * their results do not depend on the storage. */
#include "tfkd_kernels.h"

static uint32_t tfkd_id_bits(uint32_t format) {
  if (format & TFKD_WEIGHTS_IDS1) return 1u;
  if (format & TFKD_WEIGHTS_IDS2) return 2u;
  if (format & TFKD_WEIGHTS_IDS4) return 4u;
  return (format & TFKD_WEIGHTS_IDS8) ? 8u : 0u;
}

/* Stored value k: a 4-bit index into table (table4) or an int8. Every call passes table4 as a constant,
 * so the inlined copies below hold no test of it. */
static inline int8_t tfkd_value(int table4, const int8_t *table, const uint8_t *values, int32_t k) {
  return table4 ? table[(values[k >> 1] >> ((k & 1) << 2)) & 15] : (int8_t)values[k];
}

/* A weight of a sparse run: stored value k where bit is 1, else 0; returns the next k. */
static inline int32_t tfkd_sparse_one(int table4, const int8_t *table, const uint8_t *values, uint32_t bit,
                                      int32_t k, int8_t *out) {
  *out = bit ? tfkd_value(table4, table, values, k) : 0;
  return k + (int32_t)bit;
}

/* Weights [i, end) of a sparse run (the bitmap bit of each says whether it is stored); returns the next
 * value index k. Whole bitmap bytes go 8 weights a pass. */
static inline int32_t tfkd_decode_sparse(int table4, const int8_t *table, const uint8_t *bitmap,
                                         const uint8_t *values, int32_t i, int32_t end, int32_t k,
                                         int8_t *out) {
  for (; i < end && (i & 7); ++i) {
    k = tfkd_sparse_one(table4, table, values, (bitmap[i >> 3] >> (i & 7)) & 1u, k, out + i);
  }
  for (; end - i >= 8; i += 8) {
    uint32_t mask = bitmap[i >> 3];
    int32_t b;
    for (b = 0; b < 8; ++b, mask >>= 1) k = tfkd_sparse_one(table4, table, values, mask & 1u, k, out + i + b);
  }
  for (; i < end; ++i) {
    k = tfkd_sparse_one(table4, table, values, (bitmap[i >> 3] >> (i & 7)) & 1u, k, out + i);
  }
  return k;
}

/* Weights [i, end) of a run of 4-bit indices of every weight (weight i is value i), two per byte. */
static inline void tfkd_decode_table4(const int8_t *table, const uint8_t *values, int32_t i, int32_t end,
                                      int8_t *out) {
  if (i & 1) {
    out[i] = table[values[i >> 1] >> 4];
    ++i;
  }
  for (; end - i >= 2; i += 2) {
    const uint32_t pair = values[i >> 1];
    out[i] = table[pair & 15u];
    out[i + 1] = table[pair >> 4];
  }
  if (i < end) out[i] = table[values[i >> 1] & 15u];
}

/* Every run of a 4-bit format (sparse: a constant, so that each format gets a loop of its own), one table
 * per run: size is a multiple of run. */
static inline void tfkd_decode_runs(int sparse, const tfkd_weights_params *p, const uint8_t *ids,
                                    uint32_t id_bits, const int8_t *tables, const uint8_t *bitmap,
                                    const uint8_t *values, int8_t *out) {
  /* Parameters in locals: the int8 stores into out could alias *p, whose fields would then be read
   * again after every run. */
  const int32_t size = p->size, run = p->run, block = p->block, period = p->period;
  const int32_t table_size = p->table_size;
  const uint32_t id_mask = (1u << id_bits) - 1u;
  int32_t i = 0, k = 0, first = 0; /* first: the group of the block's first run */
  while (i < size) {
    const int32_t block_end = i + block;
    int32_t sub = 0;
    for (; i < block_end; i += run) {
      const uint32_t at = (uint32_t)(first + sub) * id_bits; /* ids never straddle a byte */
      const int8_t *table = tables + (int32_t)((ids[at >> 3] >> (at & 7u)) & id_mask) * table_size;
      if (sparse) {
        k = tfkd_decode_sparse(1, table, bitmap, values, i, i + run, k, out);
      } else {
        tfkd_decode_table4(table, values, i, i + run, out);
      }
      if (++sub == period) sub = 0;
    }
    first += period;
  }
}

void tfkd_decode_weights(const tfkd_weights_params *p, const uint8_t *data, int8_t *out) {
  const uint32_t format = p->format, id_bits = tfkd_id_bits(format);
  const int8_t *tables = (const int8_t *)data;
  const uint8_t *ids = data + ((format & TFKD_WEIGHTS_TABLE4) ? (int32_t)p->tables * p->table_size : 0);
  const uint8_t *bitmap = ids + (p->size / p->block * p->period * (int32_t)id_bits + 7) / 8;
  const uint8_t *values = bitmap + ((format & TFKD_WEIGHTS_SPARSE) ? (p->size + 7) / 8 : 0);
  if (!(format & TFKD_WEIGHTS_TABLE4)) { /* sparse int8 values: one group */
    tfkd_decode_sparse(0, tables, bitmap, values, 0, p->size, 0, out);
  } else if (format & TFKD_WEIGHTS_SPARSE) {
    tfkd_decode_runs(1, p, ids, id_bits, tables, bitmap, values, out);
  } else {
    tfkd_decode_runs(0, p, ids, id_bits, tables, bitmap, values, out);
  }
}
