#include <isa-l/igzip_lib.h>
#include <zstd.h>

/// Swift cannot import ISA-L's computed size macros; expose the one we use.
static inline unsigned int strata_isal_level1_buffer_size(void) { return ISAL_DEF_LVL1_DEFAULT; }
