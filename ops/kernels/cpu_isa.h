#pragma once
// Which vector instruction set the hand-written kernels use. One build runs on any x86-64 and
// picks, at start-up, the best path the CPU supports (like OpenBLAS, oneDNN and XNNPACK);
// DAGRAD_ISA=baseline|avx2|avx512 in the environment (or force_isa) chooses a path instead.
#include <string_view>

namespace dagrad::kernels {

enum class Isa { baseline, avx2, avx512 };

// "baseline" (SSE2), "avx2" (AVX2 + FMA) or "avx512" (AVX-512 F/BW/DQ/VL).
const char* isa_name(Isa isa);
// Parses a name as above; throws an Error listing the valid names otherwise.
Isa parse_isa(std::string_view name);
// The best path this CPU supports.
Isa detected_isa();
// Whether this CPU can run the path.
bool isa_supported(Isa isa);
// The path the kernels take: DAGRAD_ISA if set (an error names it if the CPU cannot run it), else
// detected_isa(). Read once; force_isa() overrides it (tests run every supported path).
Isa active_isa();
void force_isa(Isa isa);

}  // namespace dagrad::kernels
