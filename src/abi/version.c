/* The library's identity, exported beside the three C ABI entry points. */
#include "softkvm/softkvm.h"

const char* skvm_version(void) { return "softkvm 0.1.0"; }
