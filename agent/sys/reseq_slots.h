// Sizing the resequencer of an opened data path skeleton before it loads.
// Header-only (libbpf and the skeleton): the agent and the BPF tests and
// fuzzer, which load the skeleton themselves, size it the same way.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bpf/meshbpf.h"
#include "meshbpf.skel.h"

namespace meshbpf {

// Gives the opened, not yet loaded skeleton's resequencer `slots` slots
// (the map's entries and mb_reseq_slot_count): a power of two from
// MB_RESEQ_WINDOW to MB_RESEQ_SLOTS_MAX, else InvalidArgument naming it.
// With `loss_repair`, the sender's kept copies get as many (a copy is kept
// as long as the receiver may hold what came after it); else one entry.
inline absl::Status SizeResequencer(struct ::meshbpf_bpf* skel, uint32_t slots, bool loss_repair) {
  if (slots < MB_RESEQ_WINDOW || slots > MB_RESEQ_SLOTS_MAX || (slots & (slots - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("resequencer slots: ", slots,
                                                   " is not a power of two from ", MB_RESEQ_WINDOW,
                                                   " to ", MB_RESEQ_SLOTS_MAX));
  }
  if (const int err = bpf_map__set_max_entries(skel->maps.mb_reseq_slots, slots); err != 0) {
    return absl::InternalError(absl::StrCat("sizing mb_reseq_slots: ", std::strerror(-err)));
  }
  if (const int err = bpf_map__set_max_entries(skel->maps.mb_repair_copies, loss_repair ? slots : 1);
      err != 0) {
    return absl::InternalError(absl::StrCat("sizing mb_repair_copies: ", std::strerror(-err)));
  }
  skel->rodata->mb_reseq_slot_count = slots;
  return absl::OkStatus();
}

}  // namespace meshbpf
